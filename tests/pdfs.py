"""Generate real test PDFs with reportlab: text pages, encrypted, image-only, corrupt and empty files."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

#: One distinct topic per page: a heading (an all-capital line, so every page is its own section) and
#: sentences whose marker word appears on that page only.
PAGE_TOPICS: tuple[tuple[str, str], ...] = (
    ("AQUACULTURE IN NORWAY", "aquaculture"),
    ("TEXTILES IN PORTUGAL", "textiles"),
    ("ROBOTICS IN BAVARIA", "robotics"),
    ("VITICULTURE IN BURGUNDY", "viticulture"),
    ("SHIPBUILDING IN GDANSK", "shipbuilding"),
)


def page_lines(n: int, sentences: int = 6) -> list[str]:
    """The lines of page ``n`` (1-based): a heading and sentences that name the page's marker word."""
    heading, marker = PAGE_TOPICS[(n - 1) % len(PAGE_TOPICS)]
    lines = [heading, ""]
    for i in range(sentences):
        lines.append(f"Sentence {i + 1} of page {n} is about {marker} and the cluster members who")
        lines.append(f"work on {marker} together with partners abroad in project number {n}{i}.")
    return lines


def write_pdf(path: Path, pages: Sequence[Sequence[str]], encrypt: str | None = None) -> Path:
    """A PDF with one page per entry of ``pages``, each line drawn as text; optionally encrypted."""
    pdf = canvas.Canvas(str(path), pagesize=A4, encrypt=encrypt, invariant=1)
    _, height = A4
    for lines in pages:
        pdf.setFont("Helvetica", 11)
        y = height - 72
        for line in lines:
            if line:
                pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return path


def write_text_pdf(path: Path, n_pages: int = 3) -> Path:
    """A PDF of ``n_pages`` pages with distinct text on every page (see ``page_lines``)."""
    return write_pdf(path, [page_lines(n) for n in range(1, n_pages + 1)])


def write_encrypted_pdf(path: Path, password: str = "secret") -> Path:
    """A password-protected PDF (reportlab's standard encryption with a user password)."""
    return write_pdf(path, [page_lines(1)], encrypt=password)


def write_image_only_pdf(path: Path) -> Path:
    """A PDF whose only page holds a filled rectangle and no text at all."""
    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    pdf.setFillColorRGB(0.2, 0.4, 0.6)
    pdf.rect(100, 300, 300, 200, stroke=1, fill=1)
    pdf.showPage()
    pdf.save()
    return path


def write_corrupt_pdf(path: Path, size: int = 4096, seed: int = 7) -> Path:
    """Random bytes with a ``.pdf`` name."""
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def write_truncated_pdf(path: Path) -> Path:
    """A real PDF cut off after its first third: the header is right, the rest is missing."""
    write_text_pdf(path, 3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def write_empty_file(path: Path) -> Path:
    """A file of zero bytes."""
    path.write_bytes(b"")
    return path

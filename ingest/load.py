"""Load source files (PDF page by page, plain text, Markdown) into ``Document`` records."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from ingest.records import Document, Line

SUPPORTED = (".pdf", ".txt", ".md")
# Files that describe a folder rather than belong to the handbook.
SKIPPED_NAMES = frozenset({"readme.md", "readme.txt", "license.md", "license.txt"})


class LoadError(Exception):
    """A file that cannot be ingested; ``str()`` is a one-line message naming the file and the fix."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def doc_id_for(path: Path) -> str:
    """A stable id for a file: its name, lowercased, with anything unusual turned into dashes."""
    return re.sub(r"[^a-z0-9._-]+", "-", path.name.lower()).strip("-") or "document"


def discover(paths: Iterable[Path | str]) -> tuple[list[Path], list[LoadError]]:
    """Expand folders into the supported files below them; missing paths become errors."""
    found: list[Path] = []
    errors: list[LoadError] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            errors.append(LoadError(path, "no such file or folder: check the path"))
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if (
                    child.is_file()
                    and not hidden
                    and child.suffix.lower() in SUPPORTED
                    and child.name.lower() not in SKIPPED_NAMES
                ):
                    found.append(child)
        elif path.suffix.lower() not in SUPPORTED:
            errors.append(
                LoadError(path, f"unsupported file type {path.suffix or '(none)'}: use .pdf, .txt or .md")
            )
        else:
            found.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, errors


def load_document(path: Path) -> Document:
    """Read one file; raises ``LoadError`` with the reason when it cannot be used."""
    data = _read_bytes(path)
    sha = hashlib.sha256(data).hexdigest()
    kind = path.suffix.lower().lstrip(".")
    if kind == "pdf":
        lines = _pdf_lines(path)
    elif kind in ("txt", "md"):
        lines = _text_lines(path, data)
    else:
        raise LoadError(path, f"unsupported file type .{kind}: use .pdf, .txt or .md")
    return Document(doc_id=doc_id_for(path), path=str(path), kind=kind, lines=tuple(lines), sha256=sha)  # type: ignore[arg-type]


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(path, f"cannot be read ({exc.strerror or exc}): check its permissions") from exc
    if not data.strip():
        raise LoadError(path, "the file is empty: add content or remove it")
    return data


def _text_lines(path: Path, data: bytes) -> list[Line]:
    # NUL bytes or a high share of control bytes mean a binary file with a text extension.
    sample = data[:8192]
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    if b"\x00" in sample or controls > len(sample) * 0.05:
        raise LoadError(path, "binary data, not text: give a .txt/.md text file or the original PDF")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            path, f"not UTF-8 text (byte {exc.start}): convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from exc
    return [Line(t, i) for i, t in enumerate(text.splitlines(), start=1)]


def _pdf_lines(path: Path) -> list[Line]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs warnings for every quirk of a damaged file; the one-line error is what users need.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types for unsupported encryption
                raise LoadError(path, "encrypted PDF: save an unencrypted copy and ingest that") from exc
            if not opened:
                raise LoadError(
                    path, "encrypted PDF (password protected): save an unencrypted copy and ingest that"
                )
        lines: list[Line] = []
        pages = reader.pages
        if len(pages) == 0:
            raise LoadError(path, "the PDF has no pages: export it again")
        for number, page in enumerate(pages, start=1):
            text = page.extract_text() or ""
            lines.extend(Line(t, i, number) for i, t in enumerate(text.splitlines(), start=1))
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, AttributeError, OSError) as exc:
        raise LoadError(
            path, f"not a readable PDF ({type(exc).__name__}): re-export or re-download it"
        ) from exc
    except Exception as exc:  # a damaged PDF can trip any part of the parser
        raise LoadError(
            path, f"not a readable PDF ({type(exc).__name__}): re-export or re-download it"
        ) from exc
    if not any(line.text.strip() for line in lines):
        raise LoadError(path, "no extractable text (an image-only or blank PDF): run OCR on it first")
    return lines

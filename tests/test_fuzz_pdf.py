"""Fuzzed and truncated PDFs never crash the ingest: each gives chunks or a one-line per-file error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pdfs import write_text_pdf

from ingest.load import LoadError
from ingest.pipeline import prepare


@pytest.fixture(scope="module")
def pdf_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_text_pdf(tmp_path_factory.mktemp("pdf") / "good.pdf", n_pages=3).read_bytes()


def outcome(path: Path) -> str:
    try:
        prepared = prepare(path)
    except LoadError as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message
        return "error"
    assert prepared.chunks and all(c.page for c in prepared.chunks)
    return "ok"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.0, 1.0))
def test_truncated_pdfs(pdf_bytes: bytes, tmp_path: Path, cut: float) -> None:
    path = tmp_path / "truncated.pdf"
    path.write_bytes(pdf_bytes[: int(len(pdf_bytes) * cut)])
    assert outcome(path) in ("ok", "error")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(0, 255)), min_size=1, max_size=40))
def test_byte_flipped_pdfs(pdf_bytes: bytes, tmp_path: Path, flips: list[tuple[float, int]]) -> None:
    data = bytearray(pdf_bytes)
    for where, value in flips:
        data[int(where * len(data))] = value
    path = tmp_path / "fuzzed.pdf"
    path.write_bytes(bytes(data))
    assert outcome(path) in ("ok", "error")

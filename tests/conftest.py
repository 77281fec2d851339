"""Shared fixtures: one real index of the bundled handbook per test session (real model, real Chroma)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
CORPUS_TEXT = REPO / "corpus" / "tactics-cluster-internationalisation-handbook.txt"


@pytest.fixture(scope="session")
def handbook_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Settings whose data folder holds a freshly built index of the bundled corpus."""
    from assistant.settings import Settings
    from ingest.pipeline import run_ingest

    data = tmp_path_factory.mktemp("data")
    settings = Settings(data_dir=data)
    summary = run_ingest(settings.default_sources(), settings.open_store(), settings.embedder())
    assert summary.ok, summary.errors
    yield settings


@pytest.fixture(scope="session")
def assistant(handbook_settings):  # type: ignore[no-untyped-def]
    """The real assistant over the real index, no LLM."""
    from assistant.assistant import Assistant

    return Assistant.from_settings(handbook_settings)


@pytest.fixture(scope="session")
def app_url(handbook_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """One `streamlit run ui/app.py` over the session's index, shared by the browser tests (tests/browser.py)."""
    from browser import require_chromium, streamlit_app

    require_chromium()
    with streamlit_app(handbook_settings.data_dir) as url:
        yield url

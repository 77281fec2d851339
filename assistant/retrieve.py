"""Hybrid, step-aware retrieval: BM25 and dense (Chroma) rankings fused by weighted reciprocal rank.

For a question:

1. The dense ranking comes from Chroma (cosine over all-MiniLM-L6-v2 vectors of the chunks with
   their heading path), the BM25 ranking from bm25s over stemmed terms of the same text; both
   honour the caller's hard filters (part, step, section, case, audience).
2. When the question names steps, cases or an audience (the ``Route``), both rankings are run
   again restricted to those chunks and join the fusion with weight ``route_boost``: routed
   chunks rise, other chunks can still win on content.
3. The user's current step is a prior: its chunks get a small constant bonus.
4. Fused score = Σ weight / (rrf_k + rank). The best dense cosine is kept as evidence strength.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import bm25s
import numpy as np

from assistant.text import terms
from ingest.chunk import contextual_text
from ingest.records import Chunk
from ingest.store import ChunkStore

DENSE_OVERFETCH = 3  # candidates asked of the vector store per candidate kept


class DenseUnavailable(RuntimeError):
    """The vector store cannot be queried right now."""


@dataclass(frozen=True)
class Filters:
    """Hard metadata filters a caller can put on retrieval (None means no filter)."""

    parts: frozenset[str] | None = None
    steps: frozenset[int] | None = None
    sections: frozenset[str] | None = None
    cases: frozenset[str] | None = None
    audiences: frozenset[str] | None = None

    @classmethod
    def of(
        cls,
        parts: Iterable[str] | None = None,
        steps: Iterable[int] | None = None,
        sections: Iterable[str] | None = None,
        cases: Iterable[str] | None = None,
        audiences: Iterable[str] | None = None,
    ) -> Filters:
        """Build filters from any iterables."""

        def fs(x: Iterable[Any] | None) -> frozenset[Any] | None:
            return frozenset(x) if x else None

        return cls(fs(parts), fs(steps), fs(sections), fs(cases), fs(audiences))

    def __bool__(self) -> bool:
        return any(v for v in (self.parts, self.steps, self.sections, self.cases, self.audiences))

    def allows(self, chunk: Chunk) -> bool:
        """Whether a chunk passes every filter."""
        return (
            (self.parts is None or chunk.part in self.parts)
            and (self.steps is None or chunk.step in self.steps)
            and (self.sections is None or chunk.section in self.sections)
            and (self.cases is None or chunk.case_id in self.cases)
            and (self.audiences is None or chunk.audience in self.audiences)
        )

    def where(self) -> dict[str, Any] | None:
        """The same filters as a Chroma ``where`` clause."""
        clauses: list[dict[str, Any]] = []
        for key, values in (
            ("part", self.parts),
            ("step", self.steps),
            ("section", self.sections),
            ("case_id", self.cases),
            ("audience", self.audiences),
        ):
            if values:
                clauses.append({key: {"$in": sorted(values, key=str)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass(frozen=True)
class Route:
    """What a question names: steps, cases, Utilise Funding, an audience."""

    steps: tuple[int, ...] = ()
    cases: tuple[str, ...] = ()
    funding: bool = False
    audience: str | None = None
    parts: tuple[str, ...] = ()

    def filters(self) -> Filters | None:
        """The chunks the route points at, or None when the question names nothing.

        A named case outranks a named step ("what does Case 5 teach for Step 6?"), but not a part
        the question names outright ("which Tube Map line is about funding like Innovation Express?").
        """
        if self.cases and not self.parts:
            return Filters.of(cases=self.cases)
        parts = [f"step-{n}" for n in self.steps] + (["funding"] if self.funding else []) + list(self.parts)
        return Filters.of(parts=parts) if parts else None


@dataclass
class Scored:
    """A retrieved chunk with its fused score and its dense cosine similarity (if it had one)."""

    chunk: Chunk
    score: float
    dense: float | None = None
    ranks: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Weights:
    """Fusion weights (from settings)."""

    dense: float = 1.0
    bm25: float = 1.0
    route: float = 0.5
    prior: float = 0.1
    rrf_k: int = 60
    candidates: int = 40


class HybridIndex:
    """All chunks of the store in a BM25 index, plus the store itself for dense search."""

    def __init__(self, store: ChunkStore, embedder: Any, weights: Weights | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.weights = weights or Weights()
        self.chunks: list[Chunk] = sorted((row.chunk for row in store.all()), key=_reading_order)
        self.by_id: dict[str, Chunk] = {c.chunk_id: c for c in self.chunks}
        self.position: dict[str, int] = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        self._bm25: bm25s.BM25 | None = None
        if self.chunks:
            self._bm25 = bm25s.BM25()
            self._bm25.index([terms(contextual_text(c)) or ["_"] for c in self.chunks], show_progress=False)

    def __len__(self) -> int:
        return len(self.chunks)

    def embed(self, text: str) -> list[float]:
        """The query vector."""
        return list(self.embedder.embed_query(text))

    def dense(
        self, vector: Sequence[float], n: int, filters: Filters | None = None
    ) -> list[tuple[Chunk, float]]:
        """Dense ranking from Chroma; raises ``DenseUnavailable`` when the store cannot be reached."""
        where = filters.where() if filters else None
        try:
            # HNSW search is approximate, and a local Chroma rebuilds part of its graph in every
            # process: its last few hits can differ between processes. Asking for more and keeping
            # the best ``n`` by exact cosine (ties in reading order) gives every process one ranking.
            found = self.store.query(vector, n * DENSE_OVERFETCH, where)
        except Exception as exc:  # a Chroma server that went away raises transport errors of many kinds
            raise DenseUnavailable(
                f"the vector store at {self.store.location} is unreachable ({type(exc).__name__})"
            ) from exc
        ranked = sorted(found, key=lambda hit: (-hit[1], self.position.get(hit[0].chunk_id, 0)))
        return [(self.by_id.get(c.chunk_id, c), s) for c, s in ranked[:n]]

    def bm25(self, query: str, n: int, filters: Filters | None = None) -> list[tuple[Chunk, float]]:
        """BM25 ranking over the chunks' stemmed terms."""
        tokens = terms(query)
        if self._bm25 is None or not tokens:
            return []
        mask = None
        if filters:
            mask = np.array([1.0 if filters.allows(c) else 0.0 for c in self.chunks], dtype=np.float32)
            if not mask.any():
                return []
        k = min(n, len(self.chunks))
        ids, scores = self._bm25.retrieve([tokens], k=k, show_progress=False, weight_mask=mask)
        return [(self.chunks[int(i)], float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        route: Route | None = None,
        prior_step: int | None = None,
        vector: Sequence[float] | None = None,
    ) -> tuple[list[Scored], float, str | None]:
        """Top ``k`` chunks, the best dense cosine (the evidence strength), and a notice if degraded.

        When the vector store is unreachable (a Chroma server that went away), the ranking falls
        back to BM25 alone and says so; the next query tries the store again, so service recovers
        by itself when the server returns.
        """
        w = self.weights
        vector = vector if vector is not None else self.embed(query)
        fused: dict[str, Scored] = {}

        def add(name: str, ranking: list[tuple[Chunk, float]], weight: float, dense: bool = False) -> None:
            for rank, (chunk, score) in enumerate(ranking, start=1):
                entry = fused.setdefault(chunk.chunk_id, Scored(chunk, 0.0))
                entry.score += weight / (w.rrf_k + rank)
                entry.ranks[name] = rank
                if dense:
                    entry.dense = max(entry.dense or -1.0, score)

        notice: str | None = None
        try:
            dense = self.dense(vector, w.candidates, filters)
        except DenseUnavailable as exc:
            dense, notice = [], f"{exc}; answering from keyword search only."
        add("dense", dense, w.dense, dense=True)
        add("bm25", self.bm25(query, w.candidates, filters), w.bm25)
        routed = route.filters() if route else None
        if routed:
            combined = _combine(filters, routed)
            if notice is None:
                add("route_dense", self.dense(vector, w.candidates, combined), w.route * w.dense, dense=True)
            add("route_bm25", self.bm25(query, w.candidates, combined), w.route * w.bm25)
        if prior_step is not None:
            for entry in fused.values():
                if entry.chunk.step == prior_step:
                    entry.score += w.prior / w.rrf_k
        ranked = sorted(fused.values(), key=lambda s: (-s.score, self.position.get(s.chunk.chunk_id, 0)))
        strength = max((s for _, s in dense), default=0.0)
        return ranked[:k], strength, notice


def _combine(a: Filters | None, b: Filters) -> Filters:
    if not a:
        return b

    # Intersections of two filter sets; a field only one side constrains keeps that side.
    def pick(x: frozenset[Any] | None, y: frozenset[Any] | None) -> frozenset[Any] | None:
        if x is None:
            return y
        if y is None:
            return x
        return x & y

    return Filters(
        pick(a.parts, b.parts),
        pick(a.steps, b.steps),
        pick(a.sections, b.sections),
        pick(a.cases, b.cases),
        pick(a.audiences, b.audiences),
    )


def _reading_order(chunk: Chunk) -> tuple[str, int, int]:
    return (chunk.doc_id, chunk.line_start, chunk.ordinal)

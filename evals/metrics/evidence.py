"""Evidence retrieval: ``evidence_hit@k`` and ``mrr@10``.

The gold item lists evidence snippets, short passages of the handbook that answer the question.
A retrieved chunk "contains evidence" when ``evals.matching.contains(snippet, chunk_text)`` holds for
at least one snippet (tokens compared contiguously, so line breaks, hyphenation and case do not matter).

Step by step, for each item that has evidence:

1. Walk the retrieved chunks in rank order (only the first ``k`` of the run's retrieval depth).
2. The first chunk that contains a snippet gives the evidence rank ``r`` (none: no rank).
3. ``evidence_hit@k`` is 1 when ``r <= k``, else 0; ``mrr@10`` is ``1 / r`` when ``r <= 10``, else 0.
4. Both aggregate as the mean over items with evidence; items without evidence are not counted.

An item with evidence passes the retrieval check when ``evidence_hit@5`` is 1.
"""

from __future__ import annotations

from collections.abc import Sequence

from evals.matching import contains
from evals.metrics.base import Metric, Sample, Score

#: The depth at which an item's evidence must appear for the item to pass.
PASS_K = 5
MRR_DEPTH = 10


def first_evidence_rank(evidence: Sequence[str], texts: Sequence[str]) -> int | None:
    """1-based rank of the first text that contains any evidence snippet, or None."""
    for rank, text in enumerate(texts, start=1):
        if any(contains(snippet, text) for snippet in evidence):
            return rank
    return None


def _rank(sample: Sample) -> int | None:
    return first_evidence_rank(sample.item.evidence, [c.text for c in sample.top])


class EvidenceHit(Metric):
    """Share of items with evidence where one of the top-k retrieved chunks contains an evidence snippet."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.name = f"evidence_hit@{k}"

    @property
    def description(self) -> str:
        """The definition with the metric's own depth."""
        return super().description.replace("top-k", f"top {self.k}")

    def score(self, sample: Sample) -> Score | None:
        """1 when evidence is in the top k, else 0; None without evidence."""
        if not sample.item.evidence or not sample.single_question:
            return None
        rank = _rank(sample)
        return Score(1.0 if rank is not None and rank <= self.k else 0.0)

    def failure(self, sample: Sample, score: Score) -> str | None:
        """The top-5 check: says where the evidence was, if anywhere."""
        if self.k != PASS_K or score.value:
            return None
        rank = _rank(sample)
        where = f"first at rank {rank}" if rank else f"not in the {len(sample.top)} retrieved chunks"
        return f"evidence not in the top {PASS_K} chunks ({where})"


class MeanReciprocalRank(Metric):
    """Mean reciprocal rank of the first retrieved chunk that contains evidence (0 past rank 10)."""

    name = f"mrr@{MRR_DEPTH}"

    def score(self, sample: Sample) -> Score | None:
        """1 / rank of the first chunk with evidence (0 past rank 10); None without evidence."""
        if not sample.item.evidence or not sample.single_question:
            return None
        rank = _rank(sample)
        return Score(1.0 / rank if rank is not None and rank <= MRR_DEPTH else 0.0)

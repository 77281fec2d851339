"""Answer-quality metrics, one module per family (ragas-style); ``score_samples`` runs a set of them.

Each metric (``evals.metrics.base.Metric``) scores one ``Sample`` (gold item + answer) and aggregates
the scores of the items it applies to. ``score_samples`` scores every sample once and keeps the
scores, so the same table gives the overall value and any breakdown (by kind, persona, part) without
scoring again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.metrics.base import Metric, Sample, Score
from evals.metrics.budget import AvgRetrievedChars
from evals.metrics.cases import CaseRecall
from evals.metrics.citations import CitationValidity
from evals.metrics.conversation import AnswerEvidence, ConversationAccuracy
from evals.metrics.evidence import EvidenceHit, MeanReciprocalRank
from evals.metrics.fallback import LLMFallbackRate
from evals.metrics.groundedness import Groundedness
from evals.metrics.latency import LatencyPercentile
from evals.metrics.next_step import NextStepAccuracy
from evals.metrics.parts import PartAccuracy
from evals.metrics.refusal import FalseRefusalRate, RefusalRecall
from evals.metrics.similarity import ReferenceSimilarity, RougeL
from evals.metrics.situation import SituationMisfires, SituationRecall

__all__ = [
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "RETRIEVAL_NAMES",
    "Metric",
    "Sample",
    "Score",
    "ScoreTable",
    "all_metrics",
    "retrieval_metrics",
    "score_samples",
]

HIT_DEPTHS = (1, 3, 5, 10)


def retrieval_metrics() -> list[Metric]:
    """The metrics that need only a ranked list of chunk texts (what the baselines are measured on)."""
    return [*(EvidenceHit(k) for k in HIT_DEPTHS), MeanReciprocalRank(), AvgRetrievedChars()]


def all_metrics(embedder: Any, support_threshold: float) -> list[Metric]:
    """Every metric of the report, in the report's order."""
    *hits_and_mrr, budget = retrieval_metrics()
    return [
        *hits_and_mrr,
        PartAccuracy(),
        CaseRecall(),
        NextStepAccuracy(),
        RefusalRecall(),
        FalseRefusalRate(),
        AnswerEvidence(),
        ConversationAccuracy(),
        SituationRecall(),
        SituationMisfires(),
        CitationValidity(),
        Groundedness(support_threshold),
        LLMFallbackRate(),
        ReferenceSimilarity(embedder),
        RougeL(),
        LatencyPercentile(50),
        LatencyPercentile(95),
        budget,
    ]


#: Metric keys of report.json, in order (the public contract).
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in all_metrics(None, 0.0))
RETRIEVAL_NAMES: tuple[str, ...] = tuple(m.name for m in retrieval_metrics())
LOWER_IS_BETTER: frozenset[str] = frozenset(m.name for m in all_metrics(None, 0.0) if m.lower_is_better)


@dataclass
class ScoreTable:
    """Every sample's score on every metric, and the reasons each sample failed its checks."""

    metrics: list[Metric]
    scores: list[dict[str, Score | None]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)

    def _rows(self, rows: Iterable[int] | None) -> list[int]:
        return list(range(len(self.scores))) if rows is None else list(rows)

    def aggregate(self, rows: Iterable[int] | None = None) -> dict[str, float | None]:
        """Each metric's aggregate over the given samples (all by default); None where none applies."""
        chosen = self._rows(rows)
        out: dict[str, float | None] = {}
        for metric in self.metrics:
            scores = [s for i in chosen if (s := self.scores[i][metric.name]) is not None]
            out[metric.name] = metric.aggregate(scores)
        return out

    def counts(self, rows: Iterable[int] | None = None) -> dict[str, int]:
        """How many of the given samples each metric applies to."""
        chosen = self._rows(rows)
        return {m.name: sum(self.scores[i][m.name] is not None for i in chosen) for m in self.metrics}

    def values(self, row: int) -> dict[str, float | None]:
        """One sample's value of each per-item metric (None where it does not apply)."""
        return {
            m.name: (None if (s := self.scores[row][m.name]) is None else s.value)
            for m in self.metrics
            if m.per_item
        }


def score_samples(metrics: Sequence[Metric], samples: Sequence[Sample]) -> ScoreTable:
    """Score every sample on every metric once, collecting the failed item checks."""
    table = ScoreTable(list(metrics))
    for metric in metrics:
        metric.prepare(samples)
    for sample in samples:
        row: dict[str, Score | None] = {}
        reasons: list[str] = []
        for metric in metrics:
            score = metric.score(sample)
            row[metric.name] = score
            if score is not None and (reason := metric.failure(sample, score)):
                reasons.append(reason)
        table.scores.append(row)
        table.failures.append(reasons)
    return table

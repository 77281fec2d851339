"""What every metric shares: the sample it scores, the score it returns and how scores aggregate.

A metric works like a ragas metric, in two stages:

0. ``prepare(samples)`` (optional) sees all samples first, so a metric that needs a model can run it
   once over a batch instead of once per item.
1. ``score(sample)`` looks at one gold item and the answer it got and returns a ``Score`` (a value
   and a weight), or ``None`` when the metric does not apply to that item (e.g. ``next_step_accuracy``
   on a fact question).
2. ``aggregate(scores)`` turns the scores of the items it applies to into one number: by default the
   weighted mean, so a metric counted per item uses weight 1 and a metric counted per citation or per
   claim weighs each item by how many it has (a micro-average).

A metric that is also an item-level check says why an item failed in ``failure(sample, score)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assistant.state import Answer, RetrievedChunk
from evals.dataset import GoldItem

#: Item kinds scored by their own metrics (conversation_accuracy, situation_recall/misfires) and by
#: answer_evidence, not by the single-question retrieval, part, case, next-step and refusal metrics.
OWN_METRIC_KINDS = frozenset({"multi_turn", "situation", "neutral"})


@dataclass(frozen=True)
class Sample:
    """One gold item, the answer the system gave and how long it took."""

    item: GoldItem
    answer: Answer
    latency_ms: float = 0.0
    k: int = 10

    @property
    def single_question(self) -> bool:
        """A single question scored on its own (conversations and situations have metrics of their own)."""
        return self.item.kind not in OWN_METRIC_KINDS

    @property
    def top(self) -> list[RetrievedChunk]:
        """The retrieved chunks the metrics may look at: the first ``k``, in rank order."""
        return self.answer.retrieved[: self.k]


@dataclass(frozen=True)
class Score:
    """One item's value of a metric and its weight in the aggregate."""

    value: float
    weight: float = 1.0


class Metric:
    """Base class of all metrics: ``score`` one sample, ``aggregate`` many, explain a ``failure``."""

    name: str = ""
    #: Whether items.jsonl shows the metric per item (a percentile means nothing for one item).
    per_item: bool = True
    #: Whether a lower value is better (rates of failure, latency, context size).
    lower_is_better: bool = False

    def prepare(self, samples: Sequence[Sample]) -> None:
        """Look at all samples before scoring them (default: nothing to do)."""

    def score(self, sample: Sample) -> Score | None:
        """The item's score, or None when the metric does not apply to it."""
        raise NotImplementedError

    def aggregate(self, scores: Sequence[Score]) -> float | None:
        """Weighted mean of the scores (None when no item applies)."""
        total = sum(s.weight for s in scores)
        if not scores or total <= 0:
            return None
        return sum(s.value * s.weight for s in scores) / total

    def failure(self, sample: Sample, score: Score) -> str | None:
        """Why the item fails this metric's check, or None (most metrics are not item checks)."""
        return None

    @property
    def description(self) -> str:
        """First line of the metric's docstring, for the report's definitions."""
        return (type(self).__doc__ or self.name).strip().splitlines()[0]

"""Refusals: ``refusal_recall`` and ``false_refusal_rate``.

The assistant must refuse what the handbook does not cover and answer what it does.

Step by step:

1. ``refusal_recall``: over ``out_of_scope`` items, 1 when ``answer.refused`` is true, else 0; the mean
   is the share of out-of-scope questions refused (higher is better).
2. ``false_refusal_rate``: over items with evidence (the handbook answers them), 1 when the answer is a
   refusal, else 0; the mean is the share of answerable questions refused (lower is better).
"""

from __future__ import annotations

from evals.metrics.base import Metric, Sample, Score


class RefusalRecall(Metric):
    """Share of out-of-scope items the assistant refused."""

    name = "refusal_recall"

    def score(self, sample: Sample) -> Score | None:
        """1 when an out-of-scope item was refused, else 0; None for other items."""
        if sample.item.kind != "out_of_scope":
            return None
        return Score(1.0 if sample.answer.refused else 0.0)

    def failure(self, sample: Sample, score: Score) -> str | None:
        """Says the item was answered though out of scope."""
        return None if score.value else "answered an out-of-scope question instead of refusing"


class FalseRefusalRate(Metric):
    """Share of items with evidence (answerable from the handbook) the assistant refused."""

    name = "false_refusal_rate"
    lower_is_better = True

    def score(self, sample: Sample) -> Score | None:
        """1 when an item with evidence was refused, else 0; None for other items."""
        if not sample.item.evidence or not sample.single_question:
            return None
        return Score(1.0 if sample.answer.refused else 0.0)

    def failure(self, sample: Sample, score: Score) -> str | None:
        """Says the item was refused though answerable."""
        return "refused a question the handbook answers" if score.value else None

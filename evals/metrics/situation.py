"""Situations told in everyday words: ``situation_recall`` and ``situation_misfires``.

A ``situation`` item tells what happened to the user (a journey condition of ``corpus/journey.yaml``);
a ``neutral`` item tells nothing of the kind.

Step by step:

1. ``situation_recall``: over situation items, 1 when the proposed next step rests on the item's
   condition, or the assistant offered that condition among the choices it asked the user to pick
   from; else 0.
2. ``situation_misfires``: over neutral items, 1 when the assistant proposed a next step or offered
   choices anyway (lower is better).
"""

from __future__ import annotations

from evals.metrics.base import Metric, Sample, Score


def _conditions(sample: Sample) -> list[str]:
    """The conditions an answer proposed or offered."""
    answer = sample.answer
    found = [c.condition for c in answer.choices]
    if answer.next_step is not None and answer.next_step.condition:
        found.insert(0, answer.next_step.condition)
    return found


class SituationRecall(Metric):
    """Share of situation items whose condition was proposed or offered among the choices."""

    name = "situation_recall"

    def score(self, sample: Sample) -> Score | None:
        """1 when the item's condition was proposed or offered, else 0; None for other items."""
        if sample.item.kind != "situation":
            return None
        return Score(1.0 if sample.item.expected_condition in _conditions(sample) else 0.0)

    def failure(self, sample: Sample, score: Score) -> str | None:
        """What was proposed or offered instead."""
        if score.value:
            return None
        got = ", ".join(_conditions(sample)) or "nothing"
        return f"situation: expected {sample.item.expected_condition}, got {got}"


class SituationMisfires(Metric):
    """Share of neutral items that got a next step or choices although they told no situation."""

    name = "situation_misfires"
    lower_is_better = True

    def score(self, sample: Sample) -> Score | None:
        """1 when a neutral item got a next step or choices, else 0; None for other items."""
        if sample.item.kind != "neutral":
            return None
        return Score(1.0 if _conditions(sample) or sample.answer.next_step is not None else 0.0)

    def failure(self, sample: Sample, score: Score) -> str | None:
        """Says a next step was proposed where nothing was told."""
        return "neutral message: a next step or choices were offered" if score.value else None

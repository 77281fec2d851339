"""The journey: ``next_step_accuracy``.

Next-step items (and any item with ``expected_next_step``) say which of the ten steps the user should
go to next, given their role, current step and conversation.

Step by step, for each item with an expected next step:

1. Read the assistant's proposal, ``answer.next_step`` (None when it proposed nothing, e.g. when it
   asked a clarification question instead).
2. The item scores 1 when ``answer.next_step.step`` equals the expected step, else 0.
3. Aggregate: the mean over those items.
"""

from __future__ import annotations

from evals.metrics.base import Metric, Sample, Score


class NextStepAccuracy(Metric):
    """Share of items with an expected next step whose proposed next step is that step."""

    name = "next_step_accuracy"

    def score(self, sample: Sample) -> Score | None:
        """1 when the proposed step is the expected one, else 0; None without one expected."""
        expected = sample.item.expected_next_step
        if expected is None or not sample.single_question:
            return None
        proposal = sample.answer.next_step
        return Score(1.0 if proposal is not None and proposal.step == expected else 0.0)

    def failure(self, sample: Sample, score: Score) -> str | None:
        """What was proposed instead of the expected step."""
        if score.value:
            return None
        expected = sample.item.expected_next_step
        proposal = sample.answer.next_step
        if proposal is None:
            asked = " (asked for clarification)" if sample.answer.clarification else ""
            return f"no next step proposed{asked}, expected Step {expected}"
        return f"proposed Step {proposal.step}, expected Step {expected}"

"""Conversations: ``answer_evidence`` and ``conversation_accuracy``.

``answer_evidence`` asks whether the answer the user reads (not only the retrieved chunks) carries the
evidence; ``conversation_accuracy`` asks whether the last message of a multi-turn item got what the
item expects.

Step by step:

1. ``answer_evidence``: over items with evidence, 1 when the answer's text holds at least 70% of the
   words of one evidence snippet (a refusal holds none), else 0.
2. ``conversation_accuracy``: over ``multi_turn`` items, 1 when the answer meets the item's one
   expectation: its evidence in the answer text (as in 1), the expected next step proposed, or a
   refusal; else 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from evals.matching import tokens
from evals.metrics.base import Metric, Sample, Score

#: Share of a snippet's words the answer text must hold.
EVIDENCE_SHARE = 0.7


def carries_evidence(text: str, evidence: Sequence[str], share: float = EVIDENCE_SHARE) -> bool:
    """Whether the text holds at least ``share`` of the distinct words of one evidence snippet."""
    words = set(tokens(text))
    for snippet in evidence:
        needed = set(tokens(snippet))
        if needed and len(needed & words) >= share * len(needed):
            return True
    return False


def _answered_with_evidence(sample: Sample) -> bool:
    return not sample.answer.refused and carries_evidence(sample.answer.text, sample.item.evidence)


class AnswerEvidence(Metric):
    """Share of items with evidence whose answer text carries at least 70% of an evidence snippet's words."""

    name = "answer_evidence"

    def score(self, sample: Sample) -> Score | None:
        """1 when the answer text carries the evidence, else 0; None for items without evidence."""
        if not sample.item.evidence:
            return None
        return Score(1.0 if _answered_with_evidence(sample) else 0.0)

    def failure(self, sample: Sample, score: Score) -> str | None:
        """Says the answer text does not show the evidence."""
        return None if score.value else "the answer text does not carry the evidence"


def _meets(sample: Sample) -> bool:
    item, answer = sample.item, sample.answer
    if item.expected_refusal:
        return answer.refused
    if item.expected_next_step is not None:
        return answer.next_step is not None and answer.next_step.step == item.expected_next_step
    return _answered_with_evidence(sample)


class ConversationAccuracy(Metric):
    """Share of multi-turn items whose last answer meets the item's expectation (evidence, next step or refusal)."""

    name = "conversation_accuracy"

    def score(self, sample: Sample) -> Score | None:
        """1 when a multi-turn item's expectation is met, else 0; None for other items."""
        if sample.item.kind != "multi_turn":
            return None
        return Score(1.0 if _meets(sample) else 0.0)

    def failure(self, sample: Sample, score: Score) -> str | None:
        """What the conversation's last answer missed."""
        if score.value:
            return None
        item = sample.item
        if item.expected_refusal:
            return "conversation: answered an off-topic request instead of refusing"
        if item.expected_next_step is not None:
            got = sample.answer.next_step.step if sample.answer.next_step else None
            return f"conversation: proposed Step {got}, expected Step {item.expected_next_step}"
        return "conversation: the answer does not carry the evidence"

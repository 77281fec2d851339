"""Part routing: ``part_accuracy``.

Every chunk of the handbook belongs to one part (``step-6``, ``funding``, ``glossary`` …). A question
that names or implies a step should be answered from that step first.

Step by step, for each item with expected parts:

1. Take the part of the top-ranked retrieved chunk (no chunk: no part).
2. The item scores 1 when that part is one of the expected parts, else 0.
3. Aggregate: the mean over items with expected parts.

Chunks of other documents (naive baseline chunks, user documents) carry no handbook part, so the
metric is not computed for the baselines.
"""

from __future__ import annotations

from evals.metrics.base import Metric, Sample, Score


class PartAccuracy(Metric):
    """Share of items with expected parts whose top retrieved chunk is from one of them."""

    name = "part_accuracy"

    def score(self, sample: Sample) -> Score | None:
        """1 when the top chunk's part is expected, else 0; None without expected parts."""
        if not sample.item.expected_parts or not sample.single_question:
            return None
        top = sample.top[0].part if sample.top else None
        return Score(1.0 if top in sample.item.expected_parts else 0.0)

    def failure(self, sample: Sample, score: Score) -> str | None:
        """Names the top chunk's part and the expected ones."""
        if score.value:
            return None
        top = sample.top[0].part if sample.top else "nothing retrieved"
        return f"top chunk is from {top}, expected {' or '.join(sample.item.expected_parts)}"

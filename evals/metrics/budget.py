"""The context budget: ``avg_retrieved_chars``.

How much text retrieval hands to the answer step matters as much as whether it finds the evidence: a
system that retrieves ten 2,000-character chunks finds more evidence than one that retrieves ten
500-character chunks, and costs an LLM four times the context. Every report prints this number for
our system and for each baseline, so hit rates are compared at a known budget.

Step by step:

1. For each item, take the top-k retrieved chunks (k = the run's retrieval depth).
2. The item's value is the mean length of their text in characters, weighted by the number of chunks.
3. The aggregate is therefore the mean length of all retrieved chunks of the run.
"""

from __future__ import annotations

from evals.metrics.base import Metric, Sample, Score


class AvgRetrievedChars(Metric):
    """Average length in characters of the top-k retrieved chunks' text (the context budget)."""

    name = "avg_retrieved_chars"
    lower_is_better = True

    def score(self, sample: Sample) -> Score | None:
        """Mean length of the item's top-k chunks, weighted by their number."""
        top = sample.top
        if not top:
            return None
        return Score(sum(len(c.text) for c in top) / len(top), weight=len(top))

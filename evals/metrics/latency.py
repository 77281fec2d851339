"""Latency: ``latency_ms_p50`` and ``latency_ms_p95``.

Step by step:

1. Each item's latency is the assistant's own measurement of the final question,
   ``answer.timings_ms["total_ms"]``, or the wall time of the ``ask`` call when the answer has none
   (turns replayed to rebuild a conversation are not counted).
2. The aggregate is a percentile of all items' latencies, with linear interpolation between the two
   nearest ranks (numpy's default): p50 is the median, p95 the latency 95 % of questions beat.

Percentiles describe a set, not an item, so items.jsonl gives each item its ``latency_ms`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from evals.metrics.base import Metric, Sample, Score


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0–100) of values with linear interpolation, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class LatencyPercentile(Metric):
    """The p-th percentile of the answer latency in milliseconds over all items."""

    per_item = False
    lower_is_better = True

    def __init__(self, p: int) -> None:
        self.p = p
        self.name = f"latency_ms_p{p}"

    @property
    def description(self) -> str:
        """The definition with the metric's own percentile."""
        return super().description.replace("p-th", f"{self.p}th")

    def score(self, sample: Sample) -> Score | None:
        """The item's latency in milliseconds."""
        return Score(sample.latency_ms)

    def aggregate(self, scores: Sequence[Score]) -> float | None:
        """The percentile of the items' latencies."""
        return percentile([s.value for s in scores], self.p)

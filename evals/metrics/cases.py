"""Case studies: ``case_recall``.

Items that ask about a case study (or whose answer rests on one) list the expected case ids.

Step by step, for each item with expected cases:

1. Collect the case ids the answer shows the user: those of the top 5 retrieved chunks and those of
   the citations (a case the assistant cites counts even when it ranked lower).
2. The item's value is (expected cases found) / (expected cases).
3. Aggregate: the mean of the items' values (each item weighs the same, however many cases it expects).

An item passes the check when every expected case is found.
"""

from __future__ import annotations

from evals.metrics.base import Metric, Sample, Score

CASE_DEPTH = 5


def _missing(sample: Sample) -> list[str]:
    shown = {c.case for c in sample.top[:CASE_DEPTH]} | {c.case for c in sample.answer.citations}
    return [case for case in sample.item.expected_cases if case not in shown]


class CaseRecall(Metric):
    """Mean share of an item's expected cases found among the top-5 chunks' or the citations' case ids."""

    name = "case_recall"

    def score(self, sample: Sample) -> Score | None:
        """Share of the expected cases found; None without expected cases."""
        expected = sample.item.expected_cases
        if not expected or not sample.single_question:
            return None
        return Score(1.0 - len(_missing(sample)) / len(expected))

    def failure(self, sample: Sample, score: Score) -> str | None:
        """The expected cases not found."""
        missing = _missing(sample)
        return (
            f"case(s) {', '.join(missing)} not in the top-{CASE_DEPTH} chunks or citations"
            if missing
            else None
        )

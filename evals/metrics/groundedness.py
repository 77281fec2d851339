"""Groundedness: ``groundedness``, the share of the answer's claims its citations support.

The check is the assistant's own support check, ``assistant.verify.supported`` with the settings'
``support_threshold`` (the report names it: ``assistant.verify.SUPPORT_METHOD``), applied after the fact
to the answer the user sees.

Step by step, for each answer that is not a refusal:

1. Split the text into claims with ``assistant.verify.split_claims`` (each run of text up to its [n]
   marks; a tail without marks is a claim too). Headings (ending in ":") and questions are not claims.
2. A claim with marks is supported when at least one of the citations it marks supports it; a claim
   without marks is supported when any citation of the answer supports it.
3. The item's value is supported claims / claims, weighted by the number of claims, so the aggregate
   is the share of all claims of the run that are supported.

Refusals are left out: they make no claim from the handbook (``refusal_recall`` measures them).
"""

from __future__ import annotations

from assistant.state import Answer
from assistant.verify import CITATION_MARK, split_claims, supported
from evals.metrics.base import Metric, Sample, Score


def claims_of(text: str) -> list[str]:
    """The answer's claims: split_claims without headings and questions."""
    return [c for c in split_claims(text) if not c.rstrip().endswith((":", "?"))]


def supported_claims(answer: Answer, threshold: float) -> tuple[int, int]:
    """(supported claims, claims) of an answer."""
    sources = {c.n: c.text for c in answer.citations}
    claims = claims_of(answer.text)
    count = 0
    for claim in claims:
        marks = [int(m) for m in CITATION_MARK.findall(claim)]
        candidates = [sources[n] for n in marks if n in sources] if marks else list(sources.values())
        count += any(supported(claim, text, threshold) for text in candidates)
    return count, len(claims)


class Groundedness(Metric):
    """Share of the answers' claims supported by a chunk they cite (refusals left out)."""

    name = "groundedness"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def score(self, sample: Sample) -> Score | None:
        """Supported share of the answer's claims, weighted by claims; None for refusals."""
        if sample.answer.refused:
            return None
        good, total = supported_claims(sample.answer, self.threshold)
        return Score(good / total, weight=total) if total else None

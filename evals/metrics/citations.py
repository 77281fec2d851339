"""Citations: ``citation_validity``.

A citation is valid when the user can check it against what the answer shows. Strictly:

1. Its chunk must be one the answer carries: ``citation.chunk_id`` is among the ids of
   ``answer.retrieved`` (a citation of a chunk the answer does not carry cannot be expanded or checked).
2. Its quote must be in that chunk: every part of ``citation.quote`` (quotes of several passages of
   one chunk are joined with " … ", which marks an omission) is contained in the cited chunk's text by
   the matching rule ``evals.matching.contains``. The chunk's text is ``citation.text``, or the
   retrieved chunk's text when the citation carries none.

Per item, the value is the share of its citations that are valid, weighted by the number of
citations, so the aggregate is the share of all citations of the run that are valid (items without
citations are not counted). An item passes the check when all its citations are valid.
"""

from __future__ import annotations

import re

from assistant.state import Answer, Citation
from evals.matching import contains
from evals.metrics.base import Metric, Sample, Score

_ELLIPSIS = re.compile(r"\s*…\s*")


def quote_parts(quote: str) -> list[str]:
    """The passages of a quote: the pieces between its ellipses."""
    return [part for part in _ELLIPSIS.split(quote) if part.strip()]


def citation_problem(citation: Citation, answer: Answer) -> str | None:
    """Why a citation is invalid, or None when it is valid."""
    retrieved = {c.chunk_id: c.text for c in answer.retrieved}
    problems = []
    if citation.chunk_id not in retrieved:
        problems.append("its chunk is not among the retrieved chunks")
    text = citation.text or retrieved.get(citation.chunk_id, "")
    parts = quote_parts(citation.quote)
    if not parts or not all(contains(part, text) for part in parts):
        problems.append("its quote is not in its chunk")
    return f"citation [{citation.n}]: " + " and ".join(problems) if problems else None


class CitationValidity(Metric):
    """Share of citations whose quote is in the cited chunk and whose chunk is among the retrieved chunks."""

    name = "citation_validity"

    def score(self, sample: Sample) -> Score | None:
        """Valid share of the answer's citations, weighted by citations; None without any."""
        citations = sample.answer.citations
        if not citations:
            return None
        valid = sum(citation_problem(c, sample.answer) is None for c in citations)
        return Score(valid / len(citations), weight=len(citations))

    def failure(self, sample: Sample, score: Score) -> str | None:
        """Each invalid citation and why."""
        problems = [p for c in sample.answer.citations if (p := citation_problem(c, sample.answer))]
        return "; ".join(problems) or None

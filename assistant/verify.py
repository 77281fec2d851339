"""Verify citations before they are shown: the [n] must exist and its source must support the sentence.

The support check is lexical and needs no model: the share of the sentence's stemmed content
terms found in the cited chunk (``assistant.text.overlap``) must reach ``support_threshold``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from assistant.text import overlap

CITATION_MARK = re.compile(r"\[(\d{1,3})\]")
SUPPORT_METHOD = "stemmed content-term overlap between the sentence and its cited chunk"


@dataclass
class Verified:
    """An answer text after verification, with what was removed and why."""

    text: str
    used: list[int] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


_CLAIM = re.compile(r".+?(?:\s*\[\d{1,3}\])+[.!?]?(?=\s|$)")


def split_claims(text: str) -> list[str]:
    """Answer claims: each run of text up to and including its [n] marks; a tail with no mark is a claim too."""
    claims: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        end = 0
        for m in _CLAIM.finditer(line):
            claims.append(m.group(0).strip())
            end = m.end()
        if line[end:].strip():
            claims.append(line[end:].strip())
    return claims


def supported(sentence: str, source: str, threshold: float) -> bool:
    """Whether ``source`` supports ``sentence`` (citation marks ignored)."""
    return overlap(CITATION_MARK.sub("", sentence), source) >= threshold


def verify(text: str, sources: Mapping[int, str], threshold: float, allow_uncited: bool = False) -> Verified:
    """Keep claims whose every [n] is a given source that supports them; drop the rest.

    ``allow_uncited`` keeps claims with no mark (the assistant's own framing lines); an LLM's answer is
    checked without it, so every claim it makes must cite a source. Headings (ending in ":") and
    questions are always kept.
    """
    kept: list[str] = []
    result = Verified(text="")
    for claim in split_claims(text):
        marks = [int(m) for m in CITATION_MARK.findall(claim)]
        if not marks:
            if allow_uncited or claim.rstrip().endswith((":", "?")):
                kept.append(claim)
            else:
                result.removed.append(claim)
            continue
        if any(n not in sources for n in marks) or not any(
            supported(claim, sources[n], threshold) for n in marks
        ):
            result.removed.append(claim)
            continue
        kept.append(claim)
        result.used.extend(n for n in marks if n not in result.used)
    result.text = _rejoin(text, kept)
    return result


def _rejoin(original: str, kept: list[str]) -> str:
    """Rebuild the text from kept claims, keeping the original line breaks between them."""
    out_lines: list[str] = []
    queue = list(kept)
    for line in original.splitlines():
        line_claims = split_claims(line)
        keep = [c for c in line_claims if queue and c == queue[0] and queue.pop(0)]
        if keep:
            out_lines.append(" ".join(keep))
    return "\n".join(out_lines)

"""Grounded extractive answers: pick the sentences that answer best, cite each one.

For a question and its ranked chunks:

1. Split the top chunks into sentences (the same splitter the chunker uses).
2. A lead-in ("… include:") or a bullet with sub-items keeps what it introduces. Score each
   sentence by the IDF-weighted share of the question's terms it contains, plus a
   prior for the rank of its chunk, plus a bonus when it holds the kind of answer the question
   asks for (a duration for "how long", an amount for "how much", a date for "when"); very short
   fragments and bare headings score nothing.
3. Take the best sentences, skipping near-duplicates (rapidfuzz), up to the answer length.
4. Order them readably: the sentence holding the asked-for kind of answer first, then by chunk in
   rank order, then by position in the chunk.
5. Number the chunks they come from as citations [n]; each citation quotes the exact sentences.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from assistant.retrieve import Scored
from assistant.text import terms, words
from ingest.chunk import sentence_spans
from ingest.records import Chunk

MIN_SENTENCE = 25
# Labels of a case study's parts; a sentence that runs on from one keeps only what follows it.
_CASE_FIELD = re.compile(
    r"(?:The challenge to international cluster cooperation|Description of case|Key lessons learned)\s*"
)


_CASE_TITLE = re.compile(r"^Case \d{1,2}[ab]?\s*[:–-]")


def _is_heading(text: str) -> bool:
    """A case title or a heading line: no sentence end, mostly capitalised words."""
    if _CASE_TITLE.match(text) and not text.endswith((".", "?", "!")):
        return True
    if text.endswith((".", "?", "!", ":", ")", "”", '"')) or len(text) > 250:
        return False
    tokens = text.split()
    return bool(tokens) and sum(1 for t in tokens if t[:1].isupper()) / len(tokens) > 0.5


def _is_list_run(text: str) -> bool:
    """A run of title-cased list items that lost their line breaks reads as noise, not as an answer."""
    tokens = text.split()
    if len(text) < 150 or not tokens:
        return False
    capitalised = sum(1 for t in tokens if t[:1].isupper())
    return capitalised / len(tokens) > 0.6 and text.count(".") <= 1


_NUMBER_WORDS = r"(?:\d[\d.,]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|eighteen|twenty|thirty|several|a few)"
# What kind of answer a question wants, and what a sentence holding such an answer looks like.
ANSWER_TYPES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (
        re.compile(r"\bhow (long|soon)\b|\bduration\b|\bhow many (days|weeks|months|years)\b", re.I),
        re.compile(rf"\b{_NUMBER_WORDS}[\s-]+(days?|weeks?|months?|years?)\b", re.I),
    ),
    (
        re.compile(r"\bhow much\b|\bbudget\b|\bcost\b|\bamount\b", re.I),
        re.compile(r"€|\bEUR\b|\beuros?\b|\bmillion\b|\$|£|\d[\d.,]*\s*k\b", re.I),
    ),
    (re.compile(r"\bhow many\b", re.I), re.compile(rf"\b{_NUMBER_WORDS}\b", re.I)),
    (
        re.compile(r"\bwhen\b|\bwhat year\b", re.I),
        re.compile(
            r"\b(19|20)\d\d\b|\b(January|February|March|April|May|June|July|August|September|October|November|December)\b"
        ),
    ),
)
ANSWER_TYPE_BONUS = 0.25


def answer_type(question: str) -> re.Pattern[str] | None:
    """What a sentence answering ``question`` contains (a duration, an amount, a number, a date), if it says."""
    return next((answer for asks, answer in ANSWER_TYPES if asks.search(question)), None)


@dataclass
class Passage:
    """A quoted passage of a chunk used in an answer."""

    chunk: Chunk
    text: str
    rank: int
    position: int
    score: float = 0.0


class Sources:
    """Numbers the chunks an answer cites, in order of first use, and keeps what each quotes."""

    def __init__(self) -> None:
        self.order: list[Chunk] = []
        self.quotes: dict[str, list[str]] = {}

    def cite(self, chunk: Chunk, quote: str) -> int:
        """The citation number of ``chunk``, adding ``quote`` to what it quotes."""
        if chunk.chunk_id not in self.quotes:
            self.order.append(chunk)
            self.quotes[chunk.chunk_id] = []
        if quote and quote not in self.quotes[chunk.chunk_id]:
            self.quotes[chunk.chunk_id].append(quote)
        return next(i for i, c in enumerate(self.order, start=1) if c.chunk_id == chunk.chunk_id)

    def texts(self) -> dict[int, str]:
        """Citation number → full chunk text, for verification."""
        return {i: c.text for i, c in enumerate(self.order, start=1)}


def sentences_of(chunk: Chunk) -> list[tuple[int, str]]:
    """(position, sentence) pairs of a chunk's text."""
    return list(_sentences(chunk.text))


@lru_cache(maxsize=8192)
def _sentences(text: str) -> tuple[tuple[int, str], ...]:
    # Sentence splitting is the slow part of answering; each chunk is split once per process.
    return tuple((s, text[s:e]) for s, e in sentence_spans(text, 10_000))


BOILERPLATE_COUNT = 5  # a sentence found in this many chunks is a form line, not an answer
BOILERPLATE_WORDS = 4


def boilerplate(chunks: Iterable[Chunk]) -> frozenset[str]:
    """Sentences the handbook repeats in many places ("If the answers are positive, then move onto …")."""
    counts: Counter[str] = Counter()
    for chunk in chunks:
        counts.update({_key(sentence) for _, sentence in sentences_of(chunk)})
    return frozenset(
        key for key, n in counts.items() if n >= BOILERPLATE_COUNT and len(key.split()) >= BOILERPLATE_WORDS
    )


def _key(sentence: str) -> str:
    return " ".join(words(sentence))


def _repeats(sentence: str, skip: frozenset[str]) -> bool:
    """Whether a sentence is, or starts with, one of the repeated form lines."""
    key = _key(sentence)
    return key in skip or any(key.startswith(f"{line} ") for line in skip)


def _with_what_follows(text: str, following: Sequence[tuple[int, str]], skip: frozenset[str]) -> str:
    """A lead-in with the sentences it introduces; a bullet with its sub-items."""
    if text.endswith(":"):
        # A lead-in ("Two on-line tools are highly relevant …:") is only useful with what follows.
        for _, sentence in following[:3]:
            if len(text) + len(sentence) > 400 or _repeats(sentence, skip):
                break
            text = f"{text}\n{sentence.strip()}"
    elif text.startswith("•"):
        # A bullet followed by sub-items ("• Benefits to policy makers" / "- Improved …") heads them.
        for _, sentence in following:
            item = sentence.strip()
            if not item.startswith("- ") or len(text) + len(item) > 400:
                break
            text = f"{text}\n{item}"
    return text


#: How much the words of the question a follow-up leans on count, against the message's own (1.0).
CONTEXT_WEIGHT = 0.4


def select_passages(
    question: str,
    ranked: Sequence[Scored],
    idf: Mapping[str, float],
    limit: int,
    max_chunks: int = 5,
    skip: frozenset[str] = frozenset(),
    lead: re.Pattern[str] | None = None,
    context: str = "",
) -> list[Passage]:
    """The sentences of the top chunks that best answer ``question``, in reading order (none of ``skip``).

    ``lead``: what the sentence about the thing asked about says ("Line (Dark Blue)"); it leads.
    ``context``: the question a follow-up leans on; its words count for less than the message's own.
    """
    q_terms = set(terms(question))
    q_weight = sum(idf.get(t, 1.0) for t in q_terms) or 1.0
    c_terms = set(terms(context)) - q_terms
    c_weight = sum(idf.get(t, 1.0) for t in c_terms) or 1.0
    wanted = answer_type(question)
    candidates: list[Passage] = []
    for rank, scored in enumerate(ranked[:max_chunks]):
        prior = 0.35 / (1 + rank)
        sentences = sentences_of(scored.chunk)
        for i, (position, sentence) in enumerate(sentences):
            stripped = _CASE_FIELD.split(sentence.strip())[-1].strip()
            if _is_list_run(stripped) or _is_heading(stripped) or _repeats(stripped, skip):
                continue
            stripped = _with_what_follows(stripped, sentences[i + 1 :], skip)
            if len(stripped) < MIN_SENTENCE or stripped.isupper():
                continue
            s_terms = set(terms(stripped))
            coverage = sum(idf.get(t, 1.0) for t in q_terms & s_terms) / q_weight
            coverage += CONTEXT_WEIGHT * sum(idf.get(t, 1.0) for t in c_terms & s_terms) / c_weight
            # Long sentences cover more by chance; a mild length penalty keeps answers crisp.
            length_penalty = 0.05 * math.log1p(max(0, len(stripped) - 250) / 100)
            # "How long …?" is answered by a sentence with a duration even when it shares few words.
            typed = ANSWER_TYPE_BONUS if wanted and wanted.search(stripped) else 0.0
            typed += ANSWER_TYPE_BONUS if lead and lead.search(stripped) else 0.0
            candidates.append(
                Passage(scored.chunk, stripped, rank, position, coverage + prior + typed - length_penalty)
            )
    candidates.sort(key=lambda p: -p.score)
    chosen: list[Passage] = []
    for passage in candidates:
        if len(chosen) >= limit:
            break
        if any(fuzz.ratio(passage.text, c.text) > 85 or passage.text in c.text for c in chosen):
            continue
        chosen.append(passage)
    first_rank: dict[str, int] = {}
    for p in chosen:
        first_rank.setdefault(p.chunk.chunk_id, p.rank)
    # The sentence holding the asked-for fact ("how much …?" → the amount) comes first.
    return sorted(
        chosen,
        key=lambda p: (
            not (lead and lead.search(p.text)),
            not (wanted and wanted.search(p.text)),
            first_rank[p.chunk.chunk_id],
            p.position,
        ),
    )


def render(passages: Sequence[Passage], sources: Sources) -> str:
    """Answer text: each passage followed by its citation mark; bullets stay list items."""
    lines: list[str] = []
    for p in passages:
        n = sources.cite(p.chunk, p.text)
        lines.append(f"{_as_list(p.text)} [{n}]")
    return "\n".join(lines)


def _as_list(text: str) -> str:
    """Bullets as Markdown list items; the sub-items of a bullet ("• Benefits …" / "- Raised profile") nested."""
    head, *rest = text.split("\n")
    bulleted = head.startswith(("•", "- "))
    out = [f"- {head.lstrip('•- ').strip()}" if bulleted else head]
    indent = "  " if bulleted else ""
    for line in rest:
        out.append(f"{indent}- {line.lstrip('•- ').strip()}" if line.startswith(("•", "- ")) else line)
    return "\n".join(out)


def label(chunk: Chunk) -> str:
    """Where a chunk sits, for people: "Step 6 – Identify Partners › Practical examples › Case 5"."""
    if chunk.heading_path:
        return " › ".join(chunk.heading_path)
    return chunk.part

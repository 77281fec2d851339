"""Read a question: which steps, cases and audience it names, what kind of answer it wants.

Pure functions over the question text, the journey model and the case list; no model involved.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.retrieve import Route
from assistant.text import STOPWORDS, words
from ingest.journey import Journey

# Title words that say nothing about which case is meant.
_GENERIC_TITLE_WORDS = frozenset(
    """case cluster clusters international internationalisation internationalization cooperation
    cooperations european europe network programme partnership partners relevant linking
    development developing collaboration use within between initiation long term field""".split()
)
_CASE_NUMBER = re.compile(r"\bcase(?:\s+stud(?:y|ies))?\s*(?:no\.?|number|#)?\s*(\d{1,2}\s?[ab]?)\b", re.I)
_POLICY = re.compile(r"\b(as an? |for |i am an? |i'm an? |we are |the )?polic(y|ies)[ -]?makers?\b", re.I)
_CLUSTER_ORG = re.compile(r"\b(as an? |for |i am an? |i'm an? |we are |the )?cluster (organi[sz]ations?|managers?)\b", re.I)
_CHECKLIST = re.compile(
    r"\bcheck ?lists?\b|step completion|completion (criteria|questions)|success criteria|"
    r"before (we |i |you )?(can |could )?(move|moving|proceed|go|going) (on|to|onto)|"
    r"ready to (move|proceed|go)|(questions|criteria) (should|must|do) (we|i)|"
    r"what (do|should|must) (we|i) (need to )?(have )?(done|completed|achieved)",
    re.I,
)
_INJECTION = re.compile(
    r"(ignore|disregard|forget)\b[^.?!;]*?\b(handbook|instructions?|rules|sources?|above|previous|context)\b"
    r"[^.?!;]*?(?=\b(?:and|then)\b|[.?!;]|$)|"
    r"\b(reveal|print|show|repeat)\b[^.?!;]*?\b(system prompt|prompt|instructions)\b[^.?!;]*|"
    r"\byou are now\b[^.?!;]*|\bpretend (to be|you are)\b[^.?!;]*|"
    r"\b(cite|quote)\b[^.?!;]*?\b(source|case|reference)\s*\[?\d{2,}\]?[^.?!;]*",
    re.I,
)
_LESSONS = re.compile(r"\blessons?\b|\btake-?aways?\b|\blearn(ed|t)?\b", re.I)
_CASE_SUMMARY = re.compile(r"\b(tell me|about|summar|overview|describe|what (is|was)|challenge|lessons?)\b", re.I)


@dataclass(frozen=True)
class CaseInfo:
    """A case as routing needs it: id, title and the title words that identify it."""

    case_id: str
    title: str
    keys: frozenset[str]


def case_index(cases: Sequence[tuple[str, str]]) -> list[CaseInfo]:
    """Identify each case by the words of its title that no other case title uses."""
    tokens = {cid: {w for w in words(title) if w not in STOPWORDS and w not in _GENERIC_TITLE_WORDS and len(w) > 2}
              for cid, title in cases}  # fmt: skip
    counts = Counter(w for ws in tokens.values() for w in ws)
    return [CaseInfo(cid, title, frozenset(w for w in tokens[cid] if counts[w] == 1)) for cid, title in cases]


@dataclass(frozen=True)
class Reading:
    """What a question asks for."""

    query: str  # the question with injected instructions removed
    route: Route
    intent: str  # checklist | case | next_step | general
    injected: bool = False
    wants_lessons: bool = False


def strip_injection(question: str) -> tuple[str, bool]:
    """Remove instructions aimed at the assistant ("ignore the handbook and …"); keep the question."""
    cleaned = _INJECTION.sub(" ", question)
    cleaned = re.sub(r"^\s*(and|then|,)\s+", "", re.sub(r"\s+", " ", cleaned)).strip(" ,;")
    return cleaned, cleaned != question.strip()


def named_cases(text: str, cases: Sequence[CaseInfo]) -> list[str]:
    """Case ids a text names, by number ("case 12", "case 7a") or by distinctive title words."""
    known = {c.case_id for c in cases}
    found: list[str] = []
    for m in _CASE_NUMBER.finditer(text):
        cid = m.group(1).replace(" ", "").lower()
        if cid in known:
            found.append(cid)
        elif f"{cid}a" in known:  # "case 7" covers 7a and 7b
            found.extend(x for x in (f"{cid}a", f"{cid}b") if x in known)
    text_words = set(words(text))
    if re.search(r"\bmentoring (programme|proposal|case)\b", text, re.I):
        found.append("mentoring")
    for case in cases:
        if case.keys & text_words:
            found.append(case.case_id)
    return list(dict.fromkeys(c for c in found if c in known))


def audience_of(text: str) -> str | None:
    """The audience a question speaks for, when it names one."""
    policy = _POLICY.search(text)
    cluster = _CLUSTER_ORG.search(text)
    if policy and not cluster:
        return "policy_maker"
    if cluster and not policy:
        return "cluster_organisation"
    return None


def read_question(
    question: str, journey: Journey, cases: Sequence[CaseInfo], next_step_question: bool
) -> Reading:
    """Route and classify a question."""
    query, injected = strip_injection(question)
    steps = tuple(journey.match_steps(query))
    case_ids = tuple(named_cases(query, cases))
    route = Route(steps=steps, cases=case_ids, funding=journey.mentions_funding(query), audience=audience_of(query))
    if _CHECKLIST.search(query):
        intent = "checklist"
    elif next_step_question:
        intent = "next_step"
    elif case_ids and _CASE_SUMMARY.search(query):
        intent = "case"
    else:
        intent = "general"
    return Reading(query or question, route, intent, injected, bool(_LESSONS.search(query)))

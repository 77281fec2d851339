"""Read a question: which steps, cases and audience it names, what kind of answer it wants.

Pure functions over the question text, the journey model and the case list; no model involved.
The cue lists they read by are the ``route`` section of ``corpus/cues.yaml`` (``RouteCues``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from assistant.cues import RouteCues, default_cues
from assistant.journey import Journey
from assistant.retrieve import Route
from assistant.text import STOPWORDS, terms, words


@dataclass(frozen=True)
class CaseInfo:
    """A case as routing needs it: id, title and the title words that identify it."""

    case_id: str
    title: str
    keys: frozenset[str]
    names: frozenset[str] = frozenset()  # the keys the handbook writes as names ("Medicon", "LiSoG")
    # Names in the title that point to the case though their words are common: "Innovation Express",
    # "Global Links", "TCI". Lowercased words; an all-capitals acronym that is also an ordinary word
    # ("CREATE") is kept in capitals and only counts when the question writes it with two capitals
    # or more ("CREATE", "CReATE", not "create").
    phrases: tuple[tuple[str, ...], ...] = ()
    acronyms: frozenset[str] = frozenset()


def case_index(
    cases: Sequence[tuple[str, str]],
    common_words: frozenset[str] | None = None,
    name_words: frozenset[str] | None = None,
    passages: Sequence[tuple[str | None, str]] = (),
    *,
    cues: RouteCues,
) -> list[CaseInfo]:
    """Identify each case by the rare words of its title that no other case title uses, and by its title names."""
    generic = cues.generic_title_words
    tokens = {
        cid: {w for w in words(title) if w not in STOPWORDS and w not in generic and len(w) > 2}
        for cid, title in cases
    }
    counts = Counter(w for ws in tokens.values() for w in ws)
    common = common_words or frozenset()
    names = title_names(cases, passages, cues=cues) if passages else {}
    infos = []
    for cid, title in cases:
        keys = frozenset(w for w in tokens[cid] if counts[w] == 1 and w not in common)
        phrases, acronyms = names.get(cid, ((), frozenset()))
        infos.append(CaseInfo(cid, title, keys, keys & (name_words or frozenset()), phrases, acronyms))
    return infos


# A title name as looked up: its lowercased words, one for an acronym, two for a phrase.
_Candidate = tuple[str, ...]
# Where the handbook uses a candidate: (case id of the passage, the words as written there).
_Uses = list[tuple[str | None, str]]


def title_names(
    cases: Sequence[tuple[str, str]], passages: Sequence[tuple[str | None, str]], *, cues: RouteCues
) -> dict[str, tuple[tuple[_Candidate, ...], frozenset[str]]]:
    """Per case, the name phrases and acronyms of its title that point to it (see ``CaseInfo``).

    1. Candidates: two adjacent capitalised title words ("Global Links"), or one all-capitals title
       word of three letters or more ("TCI", "INNET").
    2. A candidate in the titles of two differently titled cases names neither, nor does one made
       of generic title words only ("Cluster Partnership").
    3. A phrase must be written capitalised wherever the handbook uses it: a name, not a phrase such
       as "International Collaboration" that the handbook also writes in lower case. An acronym that
       the handbook also writes in lower case ("create") is kept, but matched only in capitals.
    4. The handbook uses a phrase at least twice: one found only in the title is not a name it uses.
       At least a quarter of the passages (``(case id, text)``) that use it must be the case's own
       (cases with the same title count together), so that "European Cluster", the start of many
       names, does not name the mentoring proposal.
    """
    titled: dict[str, set[str]] = {}
    for cid, title in cases:
        titled.setdefault(_fold(title), set()).add(cid)
    candidates = _title_candidates(cases, cues.generic_title_words)
    uses_of = _uses_in(passages, candidates)
    out: dict[str, tuple[list[_Candidate], set[str]]] = {cid: ([], set()) for cid, _ in cases}
    for cand, holders in candidates.items():
        if len(holders) != 1:
            continue
        owners = titled[next(iter(holders))]
        name = _title_name(cand, uses_of[cand], owners)
        if name is None:
            continue
        for cid in owners:
            if isinstance(name, str):
                out[cid][1].add(name)
            else:
                out[cid][0].append(name)
    return {cid: (tuple(p), frozenset(a)) for cid, (p, a) in out.items()}


def _title_candidates(
    cases: Sequence[tuple[str, str]], generic: frozenset[str]
) -> dict[_Candidate, set[str]]:
    """Steps 1 and 2 of ``title_names``: each candidate with the normalised titles holding it."""
    candidates: dict[_Candidate, set[str]] = {}
    for _, title in cases:
        tokens = _WORD.findall(_fold_quotes(title))
        found: list[_Candidate] = [(t,) for t in tokens if len(t) > 2 and t.isupper()]
        found += [
            (a, b) for a, b in zip(tokens, tokens[1:], strict=False) if a[0].isupper() and b[0].isupper()
        ]
        for cand in found:
            lowered = [w.lower() for w in cand]
            if not any(w in STOPWORDS for w in lowered) and not all(w in generic for w in lowered):
                candidates.setdefault(tuple(lowered), set()).add(_fold(title))
    return candidates


def _uses_in(
    passages: Sequence[tuple[str | None, str]], candidates: Iterable[_Candidate]
) -> dict[_Candidate, _Uses]:
    """Every use of a candidate in the passages, with its case and as written, in one pass over their words."""
    uses_of: dict[_Candidate, _Uses] = {cand: [] for cand in candidates}
    for passage_case, text in passages:
        folded = _fold_quotes(text)
        words_at = list(_WORD.finditer(folded))
        for first, second in zip(words_at, [*words_at[1:], None], strict=True):
            single = (first.group(0).lower(),)
            if single in uses_of:
                uses_of[single].append((passage_case, first.group(0)))
            # A two-word name is two words with only spaces between ("Global Links", not "R&D").
            if second is not None and not folded[first.end() : second.start()].strip():
                pair = (*single, second.group(0).lower())
                if pair in uses_of:
                    uses_of[pair].append((passage_case, f"{first.group(0)} {second.group(0)}"))
    return uses_of


def _title_name(cand: _Candidate, uses: _Uses, owners: Container[str]) -> _Candidate | str | None:
    """Steps 3 and 4 of ``title_names``: the phrase, the acronym as it must be written, or None."""
    capitalised = all(all(w[0].isupper() for w in use.split()) for _, use in uses)
    acronym = len(cand) == 1
    if acronym and not capitalised:
        uses = [(cid, use) for cid, use in uses if use.isupper()]
    elif not capitalised:
        return None
    using = [cid for cid, _ in uses]
    if len(using) < (1 if acronym else 2) or 4 * sum(cid in owners for cid in using) < len(using):
        return None
    if not acronym:
        return cand
    return cand[0] if capitalised else cand[0].upper()


def _fold_quotes(text: str) -> str:
    return text.replace("’", "'")


def _fold(title: str) -> str:
    return " ".join(w.lower() for w in _WORD.findall(_fold_quotes(title)))


def name_words(texts: Iterable[str]) -> frozenset[str]:
    """Words a text writes as names: capitalised in at least three quarters of their places in a sentence.

    A word also written in lower case a third of the time ("office", "source") is an ordinary word
    too: "a dark office" must not name the Greek Cluster Liaison Office case.
    """
    named: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for text in texts:
        for sentence in _SENTENCES.split(text):
            for token in _WORD.findall(sentence)[1:]:
                word = token.lower()
                seen[word] += 1
                named[word] += token[0].isupper()
    return frozenset(w for w, n in named.items() if n * 4 >= seen[w] * 3)


@dataclass(frozen=True)
class Reading:
    """What a question asks for."""

    query: str  # the question with injected instructions removed
    route: Route
    intent: str  # checklist | case | next_step | general
    injected: bool = False
    wants_lessons: bool = False


def _route_cues(cues: RouteCues | None) -> RouteCues:
    """The cues given, or this repository's (for callers that hold no loaded cue file)."""
    return cues if cues is not None else default_cues().route


def strip_injection(question: str, *, cues: RouteCues | None = None) -> tuple[str, bool]:
    """Remove instructions aimed at the assistant ("ignore the handbook and …"); keep the question."""
    cleaned = _route_cues(cues).injection.sub(" ", question)
    if cleaned == question:
        return question.strip(), False
    # What is left after removing instructions: drop the stray connectives and punctuation.
    cleaned = re.sub(r"\s+", " ", cleaned)
    cleaned = re.sub(r"^[\s.,;:!]*((and|then|also|so)\b[\s,]*)*", "", cleaned, flags=re.I)
    cleaned = re.sub(r"(?<=[.?!])[\s.,;:]+(?=\S)", " ", cleaned).strip(" ,;:.")
    if cleaned and not cleaned.endswith(("?", ".", "!")):
        cleaned += "?"
    return cleaned, True


def addressed_to_assistant(text: str, *, cues: RouteCues | None = None) -> bool:
    """Whether a text gives the assistant an instruction ("ignore the handbook", "SYSTEM: …")."""
    return _route_cues(cues).injection.search(text) is not None


def named_cases(text: str, cases: Sequence[CaseInfo], *, cues: RouteCues | None = None) -> list[str]:
    """Case ids a text names, by number ("case 12", "case 7a") or by distinctive title words."""
    cues = _route_cues(cues)
    known = {c.case_id for c in cases}
    found: list[str] = []
    for m in cues.case_number.finditer(text):
        listed = [m.group(1)] + re.findall(r"\d{1,2}[ab]?", m.group(2) or "")
        for raw in listed:
            cid = raw.replace(" ", "").lower()
            if cid in known:
                found.append(cid)
            elif f"{cid}a" in known:  # "case 7" covers 7a and 7b
                found.extend(x for x in (f"{cid}a", f"{cid}b") if x in known)
    text_words = set(words(text))
    written_as_names = proper_words(text)
    title_words = _TitleWords.of(text)
    if cues.mentoring_case.search(text):
        found.append("mentoring")
    by_keys = sorted(
        (
            (len(c.keys & text_words), c.case_id)
            for c in cases
            if _names_case(c, text_words, written_as_names) or _names_by_title_name(c, title_words)
        ),
        reverse=True,
    )
    found.extend(cid for _, cid in by_keys)
    return list(dict.fromkeys(c for c in found if c in known))


def names_case_number(text: str, *, cues: RouteCues | None = None) -> bool:
    """Whether a text names a case by its number ("case 12", "cases 7a and 7b")."""
    return _route_cues(cues).case_number.search(text) is not None


def _names_case(case: CaseInfo, text_words: set[str], written_as_names: set[str]) -> bool:
    """A case is named by one of its names, or by at least half of its other title words.

    Title words are often ordinary words ("find", "call", "prepare"): one of them is a topic, not
    a reference to the case, unless the handbook or the question writes it as a name.
    """
    matched = case.keys & text_words
    return bool(matched & (case.names | written_as_names)) or len(matched) >= max(
        2, (len(case.keys) + 1) // 2
    )


@dataclass(frozen=True)
class _TitleWords:
    """A text's words as title names are looked up in it: acronyms, lowercased words, adjacent pairs."""

    capitals: frozenset[str]
    lowered: frozenset[str]
    pairs: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, text: str) -> _TitleWords:
        tokens = _WORD.findall(_fold_quotes(text))
        lowered = [t.lower() for t in tokens]
        return cls(
            # Two capitals or more make a word an acronym however it is styled ("CReATE" for "CREATE").
            frozenset(t.upper() for t in tokens if sum(c.isupper() for c in t) >= 2),
            frozenset(lowered),
            frozenset(zip(lowered, lowered[1:], strict=False)),
        )


def _names_by_title_name(case: CaseInfo, text: _TitleWords) -> bool:
    """Whether a text uses one of the case's title names ("Innovation Express", "TCI")."""
    if case.acronyms & (text.capitals | text.lowered):
        return True
    return any(p in text.pairs for p in case.phrases)


_SENTENCES = re.compile(r"(?<=[.?!:;])\s+|\n")
_WORD = re.compile(r"[^\W\d_]+")


def proper_words(text: str) -> set[str]:
    """Lowercased words written as names: capitalised, not first in a sentence."""
    return {
        t.lower()
        for sentence in _SENTENCES.split(text)
        for t in _WORD.findall(sentence)[1:]
        if t[0].isupper()
    }


def unknown_names(text: str, vocabulary: Container[str], *, cues: RouteCues | None = None) -> list[str]:
    """Names and acronyms a question writes ("Python", "CRM") that the handbook never uses.

    Only names: an ordinary word the handbook lacks is usually a paraphrase of one it has, but a
    product, place or organisation it never mentions is a topic it does not cover. Nationality
    words ("Spanish", "Japanese", "Brazilian") are left out: other countries are the subject of
    internationalisation, so "Spanish partners" is in scope where the handbook names no Spanish body.
    """
    nationality = _route_cues(cues).nationality
    found: dict[str, None] = {}
    for sentence in _SENTENCES.split(_fold_quotes(text)):
        tokens = _WORD.findall(sentence)
        for i, token in enumerate(tokens):
            if token.isupper() and len(token) < 3:  # two capitals are often shorthand: "PM", "HR"
                continue
            if not (token.isupper() or (i > 0 and token[0].isupper())):
                continue
            if not token.isupper() and nationality.search(token):
                continue
            stems = terms(token)
            if stems and not any(t in vocabulary for t in stems):
                found.setdefault(token, None)
    return list(found)


def named_parts(text: str, *, cues: RouteCues | None = None) -> tuple[str, ...]:
    """Non-step parts a question names ("the glossary", "the Tube Map", "the conclusions")."""
    return tuple(part for part, pattern in _route_cues(cues).parts.items() if pattern.search(text))


def wants_next_step(
    text: str, journey: Journey, at_step: bool = False, *, cues: RouteCues | None = None
) -> bool:
    """A question about where to go next, or a description of a loop or exit the journey names.

    ``at_step``: the user's current step is known, so a plain statement ("The collaboration was
    unsuccessful.") describes their situation too.
    """
    from assistant import nextstep

    cues = _route_cues(cues)
    if cues.what_next.search(text) or nextstep.asks_next_step(text, journey):
        return True
    if nextstep.is_next_step_question(text, journey) and cues.move_words.search(text):
        return True
    condition = nextstep.detect_condition(journey, text)
    # "market failure" is a topic; "our project failed" is a situation: the user must speak of themselves.
    if condition in (None, "checklist_met"):
        return False
    statement = not text.rstrip().endswith("?") and not cues.question_start.match(text)
    return bool(cues.personal.search(text)) or (at_step and statement)


def audience_of(text: str, *, cues: RouteCues | None = None) -> str | None:
    """The audience a question speaks for, when it names one."""
    cues = _route_cues(cues)
    policy = cues.policy_makers.search(text)
    cluster = cues.cluster_organisations.search(text)
    if policy and not cluster:
        return "policy_maker"
    if cluster and not policy:
        return "cluster_organisation"
    return None


def read_question(
    question: str, journey: Journey, cases: Sequence[CaseInfo], next_step_question: bool, *, cues: RouteCues
) -> Reading:
    """Route and classify a question."""
    query, injected = strip_injection(question, cues=cues)
    steps = tuple(journey.match_steps(query))
    case_ids = tuple(named_cases(query, cases, cues=cues))
    route = Route(
        steps=steps,
        cases=case_ids,
        funding=bool(cues.funding_part.search(query)),
        audience=audience_of(query, cues=cues),
        parts=named_parts(query, cues=cues),
    )
    if (cues.checklist.search(query) or cues.checklist_done.search(query)) and not (
        next_step_question and cues.what_next.search(query)
    ):
        intent = "checklist"
    elif next_step_question:
        intent = "next_step"
    elif case_ids and not route.parts and cues.case_summary.search(query):
        intent = "case"
    elif (
        steps
        and len(steps) == 1
        and cues.step_topic.search(query)
        and not _leftover_terms(query, journey, steps[0], cues.step_question_words)
    ):
        intent = "step"
    else:
        intent = "general"
    return Reading(query or question, route, intent, injected, bool(cues.lessons.search(query)))


def _leftover_terms(query: str, journey: Journey, step: int, question_words: frozenset[str]) -> set[str]:
    """Terms of a question beyond naming the step: none left means "what is Step N about?"."""
    named = set(terms(journey.step(step).title)) | {t for a in journey.step(step).aliases for t in terms(a)}
    return {t for t in terms(query) if t not in named and t not in question_words and not t.isdigit()}

"""The Internationalisation Journey as validated data: steps, phases, the funding theme and transitions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from ingest.handbook import STEP_NUMBERS
from ingest.records import PARTS

#: Condition of the forward transitions (a step's checklist is met).
CHECKLIST_MET = "checklist_met"
#: Condition of the onward transition from Step 10 (the journey starts again).
JOURNEY_COMPLETE = "journey_complete"

TransitionKind = Literal["forward", "loop", "exit"]


class JourneyError(ValueError):
    """The journey data is malformed or does not match the handbook."""


# ---------------------------------------------------------------------------------------------
# Text normalisation
# ---------------------------------------------------------------------------------------------

# Typographic quotes and dashes are mapped to ASCII so that YAML written by hand matches the PDF text.
_TYPOGRAPHY = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2013": "-",
        "\u2014": "-",
    }
)
# "interna-\ntionalisation" and "organi-\n\nsation": the extraction sometimes leaves a blank line.
_LINE_BREAK_HYPHEN = re.compile(r"(?<=\w)-[ \t]*\n\s*")
# A real compound hyphen at a line end ("User-\nDriven") is indistinguishable from a syllable break,
# so hyphens inside words are dropped on both sides of the comparison.
_INTRA_WORD_HYPHEN = re.compile(r"(?<=\w)-(?=\w)")
_AMPERSAND = re.compile(r"\s*&\s*")
# Users write American spelling; aliases and cues are written once, in the handbook's British spelling.
_IZE = re.compile(r"(?<=[a-z])iz(?=(?:e|es|ed|ing|ation|ations|er|ers)\b)")
_NEGATIONS = frozenset(
    {"not", "never", "no", "nothing", "none", "without", "hardly", "nor", "cannot", "neither"}
)


def normalise_quote_text(text: str) -> str:
    """Normalise handbook text or a quote for comparison (NFKC, joined hyphenation, ASCII, casefold)."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY)
    text = _LINE_BREAK_HYPHEN.sub("", text)
    text = _INTRA_WORD_HYPHEN.sub("", text)
    return " ".join(text.split()).casefold()


def normalise_message(text: str) -> str:
    """Normalise a message (or an alias) for matching: casefold, ASCII quotes, '&' as 'and', -ise."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY).casefold()
    text = text.replace('"', " ")  # quotes around a step name ("the “Why?” step") carry no meaning
    text = _AMPERSAND.sub(" and ", text)
    text = _IZE.sub("is", text)
    return " ".join(text.split())


def is_negated(text: str, start: int) -> bool:
    """Whether a match at ``start`` of a normalised message is negated by one of the three words before it."""
    # Only the current clause counts: in "no, it failed" or "It is not ok. It failed." nothing is negated.
    clause = re.split(r"[.!?;:,]", text[max(0, start - 40) : start])[-1]
    before = re.findall(r"[\w']+", clause)[-3:]
    return any(w in _NEGATIONS or w.endswith("n't") for w in before)


@lru_cache(maxsize=4096)
def cue_regex(pattern: str) -> re.Pattern[str]:
    """Compile a cue/situation regex so that it only matches whole words."""
    return re.compile(rf"(?<!\w)(?:{pattern})(?!\w)")


def first_match(patterns: Iterable[str], text: str) -> int | None:
    """Position of the earliest non-negated match of any pattern in a normalised message, or None."""
    best: int | None = None
    for pattern in patterns:
        for m in cue_regex(pattern).finditer(text):
            if not is_negated(text, m.start()):
                best = m.start() if best is None else min(best, m.start())
                break
    return best


def count_matches(patterns: Iterable[str], text: str) -> int:
    """How many of the patterns match (non-negated) somewhere in a normalised message."""
    return sum(1 for p in patterns if first_match((p,), text) is not None)


# ---------------------------------------------------------------------------------------------
# Step mentions: numbers, number words, ordinals and aliases
# ---------------------------------------------------------------------------------------------

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"), start=1
    )
}
_ORDINAL_WORDS = {
    w: i
    for i, w in enumerate(
        ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"),
        start=1,
    )
}
_ORDINAL_WORDS.update(
    {f"{i}{s}": i for i, s in zip(STEP_NUMBERS, ("st", "nd", "rd", *["th"] * 7), strict=True)}
)
_NUM = r"(?:10(?!\d)|[1-9](?!\d)|" + "|".join(_NUMBER_WORDS) + r")(?!\w)"
_ORD = r"(?:" + "|".join(sorted(_ORDINAL_WORDS, key=len, reverse=True)) + r")"
_STEP_WORD = re.compile(r"(?<!\w)(steps?)\s*(?:no\.?\s*|number\s+|#\s*)?")
_NUMBER_AT = re.compile(_NUM)
_LIST_SEP = re.compile(r"\s*(?:,|and|or|/)\s*(?:steps?\s+)?")
_RANGE_SEP = re.compile(r"\s*(?:-|to|through|thru|until)\s*(?:steps?\s+)?")
_ORDINAL_MENTION = re.compile(rf"(?<!\w)({_ORD})((?:\s*(?:,|and|or)\s*(?:the\s+)?{_ORD})*)\s+steps?(?!\w)")
# A step named as where to go ("go back to Step 6", "move on to identifying partners") is a target,
# not where the user is.
_TARGET_BEFORE = re.compile(
    r"(?:back to|go(?:ing)? to|mov(?:e|ing)(?: on)? ?to|onto|on to|revisit(?:ing)?|return(?:ing)? to"
    r"|skip(?:ping)? to|jump(?:ing)? to|proceed(?:ing)? to|start(?:ing)?(?: (?:working )?on| with)?"
    r"|begin(?:ning)?(?: with)?|ready for|prepar(?:e|ing) for|head(?:ing)? (?:to|for)|review(?:ing)?)"
    r"\s+(?:the\s+|our\s+|a\s+)?$"
)


class Mention(NamedTuple):
    """A step named in a message: where, which, how (number, ordinal or alias) and whether it is a target."""

    start: int
    step: int
    via: Literal["number", "ordinal", "alias"]
    target: bool


def _number_value(token: str) -> int:
    return int(token) if token.isdigit() else _NUMBER_WORDS[token]


def _is_target(text: str, start: int) -> bool:
    return _TARGET_BEFORE.search(text[max(0, start - 40) : start]) is not None


def _numbered_mentions(text: str) -> Iterable[Mention]:
    consumed = 0  # "step 10 and step 1": the second "step" is already part of the first list
    for m in _STEP_WORD.finditer(text):
        first = _NUMBER_AT.match(text, m.end())
        if first is None or m.start() < consumed:
            continue
        plural = m.group(1) == "steps"
        target = _is_target(text, m.start())
        values = [_number_value(first.group())]
        pos = first.end()
        while True:
            listed = _LIST_SEP.match(text, pos)
            sep = listed or _RANGE_SEP.match(text, pos)
            nxt = _NUMBER_AT.match(text, sep.end()) if sep else None
            # "step 3 and one of our partners": after a singular "step" only digits continue a list.
            if nxt is None or not (plural or nxt.group().isdigit()):
                break
            value = _number_value(nxt.group())
            values.extend([value] if listed else range(values[-1] + 1, value + 1))
            pos = nxt.end()
        consumed = pos
        for v in values:
            yield Mention(m.start(), v, "number", target)


def _ordinal_mentions(text: str) -> Iterable[Mention]:
    for m in _ORDINAL_MENTION.finditer(text):
        target = _is_target(text, m.start())
        words = [m.group(1), *re.findall(_ORD, m.group(2))]
        for w in words:
            yield Mention(m.start(), _ORDINAL_WORDS[w], "ordinal", target)


@lru_cache(maxsize=64)
def _alias_regex(aliases: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so that at a given position "implement training" wins over "training".
    ordered = sorted(aliases, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(a) for a in ordered) + r")(?!\w)")


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def _check_patterns(patterns: list[str]) -> list[str]:
    for p in patterns:
        try:
            cue_regex(p)
        except re.error as e:
            raise ValueError(f"invalid regular expression {p!r}: {e}") from e
    return patterns


def _normalise_aliases(aliases: list[str]) -> list[str]:
    # Stored normalised so that matching is a plain comparison with the normalised message.
    return list(dict.fromkeys(normalise_message(a) for a in aliases))


def _check_part(part: str) -> str:
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r} (expected one of {', '.join(PARTS)})")
    return part


Patterns = Annotated[list[str], AfterValidator(_check_patterns)]
Part = Annotated[str, AfterValidator(_check_part)]
Aliases = Annotated[list[str], Field(min_length=1), AfterValidator(_normalise_aliases)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Phase(_Model):
    """One of the three phases (Get Ready, Take Action, Use Networks)."""

    id: str
    title: str
    quote: str


class Step(_Model):
    """One of the ten steps: title, phase, the phrases users name it by and how users describe being at it."""

    number: int
    title: str
    phase: str
    aliases: Aliases
    completion: str
    situations: Patterns = Field(default_factory=list)
    hints: Patterns = Field(default_factory=list)

    @property
    def label(self) -> str:
        """'Step 4 – Strategy & Action Plan'."""
        return f"Step {self.number} \u2013 {self.title}"


class Theme(_Model):
    """The cross-cutting Utilise Funding theme."""

    id: str
    title: str
    part: Part
    quote: str
    aliases: Aliases


class Start(_Model):
    """Where the journey begins for a newcomer, why, and the handbook sentence that says so."""

    step: int
    part: Part
    reason: str
    quote: str


class Transition(_Model):
    """A move from a step to a step under a condition, with the handbook sentence that states it."""

    id: str
    from_: int = Field(alias="from")
    to: int
    kind: TransitionKind
    condition: str
    cues: Annotated[Patterns, Field(min_length=1)]
    quote: str
    part: Part


class Journey(_Model):
    """The whole journey, validated: steps 1..10, phases, the funding theme, conditions and transitions."""

    phases: list[Phase]
    steps: list[Step]
    theme: Theme
    start: Start
    conditions: dict[str, str]
    next_step_questions: Patterns
    transitions: list[Transition]

    @model_validator(mode="after")
    def _consistent(self) -> Journey:
        _check_steps_and_phases(self.steps, self.phases)
        _check_aliases(self.steps, self.theme)
        _check_transitions(self.transitions, self.conditions)
        if self.start.step not in STEP_NUMBERS:
            raise ValueError(f"start: step {self.start.step} is not a step of the journey")
        return self

    def step(self, n: int) -> Step:
        """The step numbered ``n`` (KeyError if there is none)."""
        for s in self.steps:
            if s.number == n:
                return s
        raise KeyError(f"no step {n} in the journey (steps are 1..10)")

    def phase(self, phase_id: str) -> Phase:
        """The phase with this id (KeyError if there is none)."""
        for p in self.phases:
            if p.id == phase_id:
                return p
        raise KeyError(f"no phase {phase_id!r}")

    def transition_by_id(self, transition_id: str) -> Transition:
        """The transition with this id (KeyError when there is none)."""
        for t in self.transitions:
            if t.id == transition_id:
                return t
        raise KeyError(f"no transition {transition_id!r} in the journey")

    def transitions_from(self, n: int) -> list[Transition]:
        """Transitions that leave step ``n``, in file order."""
        return [t for t in self.transitions if t.from_ == n]

    def transition(self, n: int, condition: str) -> Transition | None:
        """The transition leaving step ``n`` under ``condition``, if the handbook names one."""
        return next((t for t in self.transitions if t.from_ == n and t.condition == condition), None)

    def with_condition(self, condition: str) -> list[Transition]:
        """All transitions with this condition, in file order (the first is the default)."""
        return [t for t in self.transitions if t.condition == condition]

    def onward(self, n: int) -> Transition:
        """Where a completed step leads: the forward transition, or the journey restart from Step 10."""
        t = self.transition(n, CHECKLIST_MET) or self.transition(n, JOURNEY_COMPLETE)
        if t is None:  # unreachable for a validated journey
            raise KeyError(f"step {n} has no onward transition")
        return t

    def cues_by_condition(self) -> dict[str, list[str]]:
        """Every condition with the union of its transitions' cues, in file order."""
        out: dict[str, list[str]] = {}
        for t in self.transitions:
            cues = out.setdefault(t.condition, [])
            cues.extend(c for c in t.cues if c not in cues)
        return out

    def step_mentions(self, text: str) -> list[Mention]:
        """Every step a message names (numbers, number words, ordinals, aliases), in order of appearance."""
        norm = normalise_message(text)
        found = [*_numbered_mentions(norm), *_ordinal_mentions(norm)]
        by_alias = {a: s.number for s in self.steps for a in s.aliases}
        found += [
            Mention(m.start(), by_alias[m.group()], "alias", _is_target(norm, m.start()))
            for m in _alias_regex(tuple(by_alias)).finditer(norm)
        ]
        return sorted((m for m in found if m.step in STEP_NUMBERS), key=lambda m: m.start)

    def match_steps(self, text: str) -> list[int]:
        """Steps a message names, by number, number word, ordinal or alias, in order of first appearance."""
        return list(dict.fromkeys(m.step for m in self.step_mentions(text)))

    def mentions_funding(self, text: str) -> bool:
        """Whether a message talks about the Utilise Funding theme."""
        return _alias_regex(tuple(self.theme.aliases)).search(normalise_message(text)) is not None


def _unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"duplicate {what} {v!r}")
        seen.add(v)


def _check_steps_and_phases(steps: list[Step], phases: list[Phase]) -> None:
    numbers = [s.number for s in steps]
    if sorted(numbers) != list(STEP_NUMBERS):
        raise ValueError(f"steps must be numbered 1..10 exactly once, got {numbers}")
    phase_ids = [p.id for p in phases]
    _unique("phase id", phase_ids)
    for s in steps:
        if s.phase not in phase_ids:
            raise ValueError(f"step {s.number} has unknown phase {s.phase!r}")
    for p in phases:
        if not any(s.phase == p.id for s in steps):
            raise ValueError(f"phase {p.id!r} has no steps")


def _check_aliases(steps: list[Step], theme: Theme) -> None:
    # An alias shared by two owners would make match_steps ambiguous.
    owners: dict[str, str] = {}
    for owner, aliases in [*((f"step {s.number}", s.aliases) for s in steps), ("theme", theme.aliases)]:
        for a in aliases:
            if a in owners:
                raise ValueError(f"alias {a!r} belongs to both {owners[a]} and {owner}")
            owners[a] = owner


def _check_transitions(transitions: list[Transition], conditions: dict[str, str]) -> None:
    _unique("transition id", [t.id for t in transitions])
    for t in transitions:
        _check_transition(t, conditions)
    # One transition per (step, condition) keeps the next-step choice deterministic.
    _unique("(from, condition) pair", [f"{t.from_}/{t.condition}" for t in transitions])
    for n in STEP_NUMBERS[:-1]:
        if not any(t.from_ == n and t.kind == "forward" for t in transitions):
            raise ValueError(f"step {n} has no forward transition")
    if not any(t.from_ == STEP_NUMBERS[-1] and t.condition == JOURNEY_COMPLETE for t in transitions):
        raise ValueError(f"step 10 needs a {JOURNEY_COMPLETE!r} transition")


def _check_transition(t: Transition, conditions: dict[str, str]) -> None:
    for end, n in (("from", t.from_), ("to", t.to)):
        if n not in STEP_NUMBERS:
            raise ValueError(f"transition {t.id!r} refers to unknown step {n} ({end})")
    if t.condition not in conditions:
        raise ValueError(
            f"transition {t.id!r} has condition {t.condition!r}, which is not under `conditions`"
        )
    if (t.kind == "forward") != (t.condition == CHECKLIST_MET) or (
        t.kind == "forward" and t.to != t.from_ + 1
    ):
        raise ValueError(
            f"transition {t.id!r}: forward transitions, and only they, go N to N+1 under {CHECKLIST_MET!r}"
        )
    if t.kind == "loop" and t.to > t.from_:
        raise ValueError(f"loop transition {t.id!r} must go back (from {t.from_} to {t.to})")


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def default_journey_path() -> Path:
    """Path of corpus/journey.yaml in this repository."""
    return Path(__file__).resolve().parents[1] / "corpus" / "journey.yaml"


def quoted_passages(journey: Journey) -> list[tuple[str, str]]:
    """Every (owner, quote) pair the journey claims is in the handbook."""
    return [
        *((f"phase {p.id!r}", p.quote) for p in journey.phases),
        *((f"step {s.number} completion", s.completion) for s in journey.steps),
        (f"theme {journey.theme.id!r}", journey.theme.quote),
        ("start", journey.start.quote),
        *((f"transition {t.id!r}", t.quote) for t in journey.transitions),
    ]


def check_quotes(journey: Journey, corpus_text: str) -> None:
    """Raise JourneyError listing every quote that is not in the corpus (after normalising both)."""
    corpus = normalise_quote_text(corpus_text)
    missing = [
        f"{owner} ({quote[:60]!r}{'...' if len(quote) > 60 else ''})"
        for owner, quote in quoted_passages(journey)
        if normalise_quote_text(quote) not in corpus
    ]
    if missing:
        raise JourneyError("quote not found in the corpus: " + "; ".join(missing))


def _format_errors(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        ctx: dict[str, Any] = e.get("ctx") or {}
        msg = str(ctx["error"]) if e["type"] == "value_error" and "error" in ctx else e["msg"]
        loc = ".".join(str(x) for x in e["loc"])
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def load_journey(path: str | Path, corpus_text: str | None = None) -> Journey:
    """Load and validate journey.yaml; with ``corpus_text``, also check every quote against the handbook."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise JourneyError(f"cannot read journey file {path}: {e}") from e
    if not isinstance(raw, dict):
        raise JourneyError(f"{path}: expected a mapping at the top level")
    try:
        journey = Journey.model_validate(raw)
    except ValidationError as e:
        raise JourneyError(f"{path}: {_format_errors(e)}") from e
    if corpus_text is not None:
        check_quotes(journey, corpus_text)
    return journey


@lru_cache(maxsize=1)
def default_journey() -> Journey:
    """The repository's journey.yaml, loaded once (structure validated; quotes are checked by the tests)."""
    return load_journey(default_journey_path())

"""The reader's cue lists: ``corpus/cues.yaml`` loaded, compiled and validated once."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from assistant.text import terms
from ingest.handbook import HandbookPart

Pattern = re.Pattern[str]


class CueError(ValueError):
    """The cue file is unreadable, or a cue is missing or does not compile."""


def _compile(value: Any) -> Pattern:
    """One pattern, or a list of alternatives joined into one, case-insensitive."""
    if isinstance(value, re.Pattern):
        return value
    parts = value if isinstance(value, list) else [value]
    if not parts or not all(isinstance(p, str) and p for p in parts):
        raise ValueError("must be a regular expression or a list of them")
    try:
        return re.compile("|".join(f"(?:{p})" for p in parts), re.I)
    except re.error as exc:
        raise ValueError(f"does not compile ({exc})") from exc


class _Cues(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class FollowupCues(_Cues):
    """How a message leans on the turn before it."""

    role: Pattern
    next: Pattern
    previous: Pattern
    that_case: Pattern
    more: Pattern
    leading: Pattern
    references: Pattern
    another_one: Pattern
    step_reference: Pattern
    case_outcome: Pattern
    explicit: Pattern
    entity_questions: dict[str, str]
    entities: dict[str, Pattern]

    @field_validator("*", mode="before")
    @classmethod
    def _patterns(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name == "entity_questions":
            # Question templates stay text; each says where the other thing goes ({which}).
            if not isinstance(value, dict) or not all("{which}" in str(v) for v in value.values()):
                raise ValueError("must map an entity kind to a question holding {which}")
            return value
        return _compile_all(value)

    def entity_in(self, text: str) -> tuple[str, str] | None:
        """The first named thing a text mentions, as (kind, phrase): ("tube_line", "red line")."""
        for kind, pattern in self.entities.items():
            m = pattern.search(text)
            if m:
                return kind, m.group(0).lower()
        return None


class ScopeCues(_Cues):
    """Signs that a message asks for what the handbook cannot give."""

    writing_task: Pattern
    action_task: Pattern
    time_sensitive: Pattern
    speaks_of_time: Pattern
    about_the_handbook: Pattern
    definition: Pattern
    bare_definition: Pattern
    false_premise: Pattern

    @field_validator("*", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        return _compile_all(value)


class RouteCues(_Cues):
    """How a question names steps, cases, parts and its audience, and what kind of answer it wants."""

    generic_title_words: frozenset[str]
    case_number: Pattern
    mentoring_case: Pattern
    policy_makers: Pattern
    cluster_organisations: Pattern
    checklist: Pattern
    checklist_done: Pattern
    injection: Pattern
    what_next: Pattern
    move_words: Pattern
    question_start: Pattern
    personal: Pattern
    step_topic: Pattern
    step_question_words: frozenset[str]
    funding_part: Pattern
    parts: dict[HandbookPart, Pattern]  # in the order they are looked for
    lessons: Pattern
    case_summary: Pattern
    nationality: Pattern

    @field_validator("*", mode="before")
    @classmethod
    def _patterns(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in ("generic_title_words", "step_question_words"):
            if not isinstance(value, list) or not all(isinstance(w, str) and w for w in value):
                raise ValueError("must be a list of words")
            # Question words are compared with a question's terms, so they are kept as stems.
            return frozenset(terms(" ".join(value))) if info.field_name == "step_question_words" else value
        return _compile_all(value)


class Cues(_Cues):
    """Every cue list of the reader."""

    followup: FollowupCues
    roles: dict[str, Pattern]
    start: Pattern
    self_introduction: Pattern
    in_progress: Pattern
    change_marker: Pattern
    own_situation: Pattern
    scope: ScopeCues
    route: RouteCues

    @field_validator(
        "roles", "start", "self_introduction", "in_progress", "change_marker", "own_situation", mode="before"
    )
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        return _compile_all(value)


def _compile_all(value: Any) -> Any:
    """Compile a pattern, a list of alternatives, or a mapping of them (nested models pass through)."""
    if isinstance(value, dict):
        return {k: _compile(v) for k, v in value.items()}
    if isinstance(value, (str, list, re.Pattern)):
        return _compile(value)
    return value


def load_cues(path: Path) -> Cues:
    """Load and compile a cue file; a problem raises CueError naming the cue."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Cues.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise CueError(f"{path.name}: cannot read ({exc})") from exc
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(x) for x in error["loc"])
        raise CueError(f"{path.name}: cue '{where}': {error['msg'].removeprefix('Value error, ')}") from exc


def default_cues_path() -> Path:
    """corpus/cues.yaml in this repository."""
    return Path(__file__).resolve().parents[1] / "corpus" / "cues.yaml"


@lru_cache(maxsize=4)
def cues_at(path: Path) -> Cues:
    """The cues of a file, loaded once per process."""
    return load_cues(path)


def default_cues() -> Cues:
    """The cues of this repository's corpus/cues.yaml, loaded once per process."""
    return cues_at(default_cues_path())

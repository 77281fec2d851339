"""Gold evaluation dataset: JSONL item models, a validating loader and a content hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from assistant.journey import default_journey
from evals.matching import contains
from ingest.handbook import FIRST_STEP, LAST_STEP, CaseId, HandbookPart, Role

Persona = Literal["cluster_manager", "policy_maker", "trainer", "evaluator"]
Kind = Literal[
    "fact",
    "synthesis",
    "paraphrase",
    "case_lookup",
    "checklist",
    "next_step",
    "out_of_scope",
    "adversarial",
    "multi_turn",
    "situation",
    "neutral",
]
Part = HandbookPart
StepNumber = Annotated[int, Field(strict=True, ge=FIRST_STEP, le=LAST_STEP)]

#: Allowed values, in the order the contract lists them.
PERSONAS: tuple[str, ...] = get_args(Persona)
KINDS: tuple[str, ...] = get_args(Kind)
ROLES: tuple[str, ...] = get_args(Role)
PARTS: tuple[str, ...] = get_args(Part)
CASE_IDS: tuple[str, ...] = get_args(CaseId)

# Fields whose values come from a fixed list, for readable "must be one of" messages.
_CHOICES: dict[str, tuple[str, ...]] = {
    "persona": PERSONAS,
    "kind": KINDS,
    "role": ROLES,
    "expected_parts": PARTS,
    "expected_cases": CASE_IDS,
}
_STEP_FIELDS = ("current_step", "expected_next_step")


class DatasetError(ValueError):
    """A gold dataset file is unreadable or has an invalid line."""


class HistoryTurn(BaseModel):
    """One earlier turn of the conversation that precedes the question."""

    model_config = ConfigDict(extra="allow")

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class GoldItem(BaseModel):
    """One gold question with its expected parts, cases, evidence and reference answer."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    persona: Persona
    kind: Kind
    question: str = Field(min_length=1)
    role: Role | None = None
    current_step: StepNumber | None = None
    history: list[HistoryTurn] = Field(default_factory=list)
    expected_parts: list[Part]
    expected_cases: list[CaseId]
    evidence: list[Annotated[str, Field(min_length=1)]]
    expected_next_step: StepNumber | None
    reference_answer: str
    #: multi_turn items: the final message must be refused (an off-topic request inside a conversation).
    expected_refusal: bool = False
    #: situation items: the journey condition (``corpus/journey.yaml``) the message tells.
    expected_condition: str | None = None

    @field_validator("expected_parts", "expected_cases", "evidence")
    @classmethod
    def _empty_when_out_of_scope(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Out-of-scope items must not point at any part, case or evidence."""
        if value and info.data.get("kind") == "out_of_scope":
            raise ValueError("must be empty for an out_of_scope item")
        return value

    @model_validator(mode="after")
    def _one_expectation(self) -> GoldItem:
        """A multi-turn item expects exactly one thing: evidence, a next step, or a refusal."""
        if self.kind == "multi_turn":
            expected = [bool(self.evidence), self.expected_next_step is not None, self.expected_refusal]
            if sum(expected) != 1:
                raise ValueError(
                    "a multi_turn item needs exactly one of evidence, expected_next_step, expected_refusal"
                )
        return self

    @field_validator("expected_condition")
    @classmethod
    def _known_condition(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A situation item names one of the journey's conditions; a neutral item names none."""
        kind = info.data.get("kind")
        conditions = default_journey().conditions
        if kind == "situation" and value not in conditions:
            raise ValueError("must be one of " + ", ".join(conditions) + " for a situation item")
        if kind != "situation" and value is not None:
            raise ValueError("must be null unless the item is a situation")
        return value

    @field_validator("expected_next_step")
    @classmethod
    def _next_step_has_answer(cls, value: int | None, info: ValidationInfo) -> int | None:
        """A next_step item must say which step comes next."""
        if value is None and info.data.get("kind") == "next_step":
            raise ValueError("must be a step number 1..10 for a next_step item")
        return value


def _field_name(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as field, field[2] or history[0].role."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "item"


def _error_message(error: Any) -> str:
    """One readable message for one pydantic error."""
    loc = tuple(error.get("loc", ()))
    top = loc[0] if loc else None
    kind = error.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "literal_error" and isinstance(top, str) and top in _CHOICES and not loc[2:]:
        tail = " or null" if top == "role" else ""
        return "must be one of " + ", ".join(_CHOICES[top]) + tail
    if top in _STEP_FIELDS and kind != "value_error":
        return "must be an integer from 1 to 10 or null"
    msg = str(error.get("msg", "is invalid"))
    return msg.removeprefix("Value error, ")


def _parse_line(raw: str) -> GoldItem:
    """Parse one non-blank JSONL line into a GoldItem or raise DatasetError (without a location)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"not a JSON object (got {type(data).__name__})")
    try:
        return GoldItem.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_name(tuple(first.get("loc", ())))
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise DatasetError(f"field '{field}': {_error_message(first)}{suffix}") from exc


def load_dataset(path: str | Path) -> list[GoldItem]:
    """Load and validate a whole JSONL gold file; raise DatasetError naming the first bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path.name}: cannot read ({exc})") from exc
    items: list[GoldItem] = []
    seen: dict[str, int] = {}
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = _parse_line(raw)
        except DatasetError as exc:
            raise DatasetError(f"{path.name} line {line_no}: {exc}") from exc.__cause__
        if item.id in seen:
            first = seen[item.id]
            raise DatasetError(
                f"{path.name} line {line_no}: field 'id': duplicate id {item.id!r} (first on line {first})"
            )
        seen[item.id] = line_no
        items.append(item)
    return items


def dataset_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the dataset file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def missing_evidence(items: Iterable[GoldItem], corpus_text: str) -> list[tuple[str, str]]:
    """(item id, snippet) pairs whose evidence snippet is not contained in the corpus text."""
    return [
        (item.id, snippet)
        for item in items
        for snippet in item.evidence
        if not contains(snippet, corpus_text)
    ]

"""The example data the assistant ships beside the handbook, validated on load.

- ``corpus/questions.jsonl``: the question bank, questions users ask with the handbook sentence(s)
  that answer them (a quote, not a chunk id, so that the bank survives re-chunking);
- ``corpus/out_of_scope.jsonl``: questions the handbook does not answer, grouped by topic;
- ``corpus/situations.jsonl``: situations told in everyday words, per journey condition, and neutral
  messages that tell none.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Persona = Literal["cluster_manager", "policy_maker", "trainer", "evaluator"]
#: The condition of a situation example that tells no change.
NEUTRAL = "neutral"


class ExampleError(ValueError):
    """An example file is unreadable or has an invalid line."""


class _Example(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BankQuestion(_Example):
    """A question the handbook answers, with the verbatim sentence(s) that answer it."""

    question: str = Field(min_length=3)
    quote: str = Field(min_length=10)
    persona: Persona
    style: Literal["everyday", "handbook"]
    line: int = Field(ge=1)


class OffTopicQuestion(_Example):
    """A question the handbook does not answer, with its topic."""

    question: str = Field(min_length=3)
    topic: str = Field(min_length=2)
    near_miss: bool


class Situation(_Example):
    """A message telling a journey condition (or ``neutral``: telling none) in everyday words."""

    condition: str = Field(min_length=3)
    message: str = Field(min_length=3)


E = TypeVar("E", bound=_Example)


def load_examples(path: Path, model: type[E]) -> list[E]:
    """Load one JSONL example file; an invalid line raises ExampleError naming the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ExampleError(f"{path.name}: cannot read ({exc})") from exc
    out: list[E] = []
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            out.append(model.model_validate(json.loads(raw)))
        except json.JSONDecodeError as exc:
            raise ExampleError(f"{path.name} line {n}: not valid JSON ({exc.msg})") from exc
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(x) for x in error["loc"]) or "line"
            raise ExampleError(f"{path.name} line {n}: field '{field}': {error['msg']}") from exc
    return out


def load_situations(path: Path, conditions: set[str]) -> list[Situation]:
    """The situation examples; a condition that the journey does not have is an error."""
    found = load_examples(path, Situation)
    for n, s in enumerate(found, start=1):
        if s.condition != NEUTRAL and s.condition not in conditions:
            valid = ", ".join(sorted(conditions | {NEUTRAL}))
            raise ExampleError(
                f"{path.name} example {n}: unknown condition {s.condition!r}: use one of {valid}"
            )
    return found


@lru_cache(maxsize=8)
def corpus_examples(corpus_dir: Path) -> tuple[list[BankQuestion], list[OffTopicQuestion]]:
    """The question bank and the off-topic examples of a corpus folder (empty where a file is missing)."""
    bank_path, off_path = corpus_dir / "questions.jsonl", corpus_dir / "out_of_scope.jsonl"
    bank = load_examples(bank_path, BankQuestion) if bank_path.exists() else []
    off = load_examples(off_path, OffTopicQuestion) if off_path.exists() else []
    return bank, off

"""Conversation state carried between turns, and the answer the assistant returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from ingest.handbook import ROLE_NAMES, ROLES, STEP_NUMBERS, Role, StepNumber

# The handbook's roles and steps, for the surfaces that build states (one source: ingest.handbook).
__all__ = ["ROLES", "ROLE_NAMES", "STEP_NUMBERS", "Role", "StepNumber"]


class Turn(BaseModel):
    """One message of the conversation."""

    role: Literal["user", "assistant"]
    content: str


#: Where the role or the current step came from: said in this message, said earlier in the
#: conversation, inferred from what the user told, or chosen in the UI.
Source = Literal["said", "earlier", "inferred", "ui"]


class Topic(BaseModel):
    """What an answer was about, so that the next message can point back at it."""

    question: str  # the standalone question the answer answered
    steps: list[int] = Field(default_factory=list)
    case: str | None = None
    case_title: str | None = None
    part: str | None = None
    section: str | None = None
    entity: str | None = None  # a named thing it was about: "dark blue line"
    entity_kind: str | None = None  # tube_line | case | checklist | step | funding


class Choice(BaseModel):
    """A journey condition offered for the user to pick when their situation is unclear."""

    condition: str
    step: int
    label: str


class ConversationState(BaseModel):
    """What the assistant knows about the conversation; ``ask`` returns the updated copy in the answer."""

    history: list[Turn] = Field(default_factory=list)
    role: Role | None = None
    current_step: StepNumber | None = None
    checklist_answers: dict[int, list[bool]] = Field(default_factory=dict)
    scope_case: str | None = None  # set by "Ask about this case": questions default to that case
    last_question: str | None = None
    last_steps: list[int] = Field(default_factory=list)
    last_case: str | None = None
    last_intent: str | None = None
    topic: Topic | None = None
    role_source: Source | None = None
    step_source: Source | None = None
    choices: list[Choice] = Field(default_factory=list)  # offered by the last answer, awaiting a pick


class Citation(BaseModel):
    """A numbered source of the answer: the chunk and the exact passage quoted from it."""

    n: int
    chunk_id: str
    quote: str
    part: str
    step: int | None = None
    section: str | None = None
    case: str | None = None
    case_title: str | None = None
    heading: str = ""
    page: int | None = None
    line_start: int | None = None
    line_end: int | None = None
    text: str = ""  # the whole chunk, for "expand to the full chunk"


class RetrievedChunk(BaseModel):
    """A retrieved chunk with its fused score, in rank order."""

    chunk_id: str
    part: str
    step: int | None = None
    section: str | None = None
    case: str | None = None
    audience: str | None = None
    heading: str = ""
    page: int | None = None
    line_start: int | None = None
    line_end: int | None = None
    score: float
    dense: float | None = None
    text: str


class NextStep(BaseModel):
    """A next-step proposal: where to go, why, and the handbook sentence it rests on."""

    step: int
    title: str
    reason: str
    quote: str
    kind: str
    from_step: int | None = None
    checklist: list[str] = Field(default_factory=list)
    transition_id: str | None = None
    condition: str | None = None  # the journey condition it rests on (corpus/journey.yaml); None to stay


class Scope(BaseModel):
    """Whether the handbook covers a message, and why not in a word a user understands."""

    covered: bool
    reason: str | None = None  # e.g. "a writing task", "a name the handbook never mentions"
    margin: float | None = None


class Answer(BaseModel):
    """What ``Assistant.ask`` returns; ``handbook ask --json`` prints exactly this."""

    question: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    retrieved: list[RetrievedChunk] = Field(default_factory=list)
    refused: bool = False
    next_step: NextStep | None = None
    clarification: str | None = None
    choices: list[Choice] = Field(default_factory=list)
    intent: str = "general"
    notice: str | None = None
    backend: str = "none"
    rewritten_question: str | None = None
    scope: Scope | None = None
    flagged_sentences: list[str] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    state: ConversationState = Field(default_factory=ConversationState)


def replay(
    ask: Callable[[str, ConversationState], Answer],
    turns: list[Turn],
    role: str | None = None,
    current_step: int | None = None,
) -> ConversationState:
    """The state a conversation reaches when its user turns are asked again in order through ``ask``."""
    state = ConversationState(role=role, current_step=current_step)  # type: ignore[arg-type]
    for turn in turns:
        if turn.role == "user":
            state = ask(turn.content, state).state
    # What the caller says (a UI choice, an item's role and step) wins over what the replay inferred.
    return state.model_copy(
        update={"role": role or state.role, "current_step": current_step or state.current_step}
    )

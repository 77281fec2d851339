"""Session-state helpers: settings, the shared Assistant, the conversation and the journey progress."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from pydantic import BaseModel, Field, ValidationError

from assistant.assistant import Assistant, IndexMissing
from assistant.feedback import FeedbackStore
from assistant.settings import Settings
from assistant.state import (
    ROLE_NAMES,
    ROLES,
    Answer,
    ConversationState,
    NextStep,
    Role,
    StepNumber,
)

#: Session keys of the sidebar widgets (role and current step), read by every page.
ROLE_KEY = "role"
STEP_KEY = "current_step"
# The sidebar stores "" for no role and 0 for no step: a selectbox shows None as "nothing chosen".
NO_ROLE, NO_STEP = "", 0
ROLE_LABELS: dict[str, str] = {NO_ROLE: "Not set"} | {r: ROLE_NAMES[r][:-1].capitalize() for r in ROLES}
#: Session keys of the Journey page's checklist checkboxes start with this.
CHECKBOX_PREFIX = "tick-"
_PENDING = "_pending_sidebar"
_CONVERSATION = "conversation"
_TURNS = "turns"
_TICKED = "journey_ticked"
_PROPOSALS = "journey_proposals"
# Only one session builds the index; the others wait for it instead of building it again.
_BUILD_LOCK = threading.Lock()


def settings() -> Settings:
    """Settings from the environment (``HANDBOOK_*``), read on every rerun."""
    return Settings()


@st.cache_resource(show_spinner="Loading the handbook index…")
def load_assistant(settings_json: str) -> Assistant:
    """One Assistant per process and settings, shared by every browser session (read-only per request)."""
    return Assistant.from_settings(Settings.model_validate_json(settings_json))


def get_assistant() -> Assistant:
    """The shared Assistant; on the first run with no index, build the index with a progress bar."""
    current = settings()
    key = current.model_dump_json()
    try:
        return load_assistant(key)
    except IndexMissing:
        pass
    with _BUILD_LOCK:
        try:  # another session may have built it while this one waited
            return load_assistant(key)
        except IndexMissing:
            pass
        bar = st.progress(0.0, text="First run: building the index of the handbook…")
        Assistant.from_settings(current, build_if_missing=True, progress=progress_callback(bar))
        bar.empty()
    return load_assistant(key)


def progress_callback(bar: Any) -> Any:
    """A ``progress(label, done, total)`` callback that moves a ``st.progress`` bar."""

    def update(label: str, done: int, total: int) -> None:
        bar.progress(min(max(done / max(total, 1), 0.0), 1.0), text=label)

    return update


def feedback_store() -> FeedbackStore:
    """The feedback store in the data folder."""
    return FeedbackStore(settings().data_dir / "feedback.sqlite3")


# -- sidebar: role and current step ------------------------------------------------------------
def role() -> Role | None:
    """The role chosen in the sidebar."""
    value = st.session_state.get(ROLE_KEY)
    return value if value in ROLES else None


def current_step() -> int | None:
    """The current step chosen in the sidebar."""
    value = st.session_state.get(STEP_KEY)
    return value if isinstance(value, int) and 1 <= value <= 10 else None


def set_sidebar(role_value: str | None, step: int | None) -> None:
    """Set the sidebar's role and step (only before its widgets are drawn: in a callback, or pending)."""
    st.session_state[ROLE_KEY] = role_value or NO_ROLE
    st.session_state[STEP_KEY] = step or NO_STEP


def request_sidebar(role_value: str | None, step: int | None) -> None:
    """Ask for new sidebar values; they are applied before the widgets are drawn on the next run."""
    st.session_state[_PENDING] = (role_value, step)


def apply_pending_sidebar() -> None:
    """Apply requested sidebar values (call before the sidebar widgets are created)."""
    pending = st.session_state.pop(_PENDING, None)
    if pending is not None:
        set_sidebar(*pending)


# -- chat ---------------------------------------------------------------------------------------
@dataclass
class Exchange:
    """One question and its answer, with the feedback row it got (if any)."""

    question: str
    answer: Answer
    role: str | None = None  # the role and step the question was asked with
    current_step: int | None = None
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # widget keys of this exchange
    feedback_id: int | None = None
    rating: int | None = None
    comment: str = ""


def conversation() -> ConversationState:
    """The conversation state of this session (what the assistant carries between turns)."""
    if _CONVERSATION not in st.session_state:
        st.session_state[_CONVERSATION] = ConversationState()
    state: ConversationState = st.session_state[_CONVERSATION]
    return state


def set_conversation(state: ConversationState) -> None:
    """Keep the state an answer returned, for the next turn."""
    st.session_state[_CONVERSATION] = state


def exchanges() -> list[Exchange]:
    """The questions and answers of this session, oldest first."""
    if _TURNS not in st.session_state:
        st.session_state[_TURNS] = []
    turns: list[Exchange] = st.session_state[_TURNS]
    return turns


def clear_conversation() -> None:
    """Forget the conversation (the sidebar role and step stay)."""
    st.session_state[_TURNS] = []
    st.session_state[_CONVERSATION] = ConversationState()


def state_for_question() -> ConversationState:
    """The conversation state with the sidebar's role, step and that step's checklist answers."""
    state = conversation().model_copy(deep=True)
    # A sidebar choice that differs from what the conversation established is the user's correction.
    if role() != state.role:
        state.role, state.role_source = role(), "ui" if role() else None
    if current_step() != state.current_step:
        state.current_step, state.step_source = current_step(), "ui" if current_step() else None
    # Only ticks the user made count: an untouched checklist says nothing about the step.
    answers = checklist_answers(state.current_step) if state.current_step else []
    state.checklist_answers = {state.current_step: answers} if state.current_step and any(answers) else {}
    return state


_FROM = {"said": "you said so", "earlier": "you said so earlier", "inferred": "inferred from your messages"}


def inferred_note() -> str | None:
    """What the conversation established about the user's role and step, and where it came from."""
    state = conversation()
    notes = []
    if state.role and state.role_source in _FROM:
        notes.append(f"role {ROLE_LABELS[state.role].lower()} ({_FROM[state.role_source]})")
    if state.current_step and state.step_source in _FROM:
        notes.append(f"Step {state.current_step} ({_FROM[state.step_source]})")
    if not notes:
        return None
    return "From the conversation: " + "; ".join(notes) + ". Change it above if it is wrong."


def scope_to_case(case_id: str | None) -> None:
    """Default the chat's questions to one case ("Ask about this case"), or to none."""
    state = conversation()
    state.scope_case = case_id


# -- journey progress ---------------------------------------------------------------------------
def ticked() -> dict[int, dict[int, bool]]:
    """Checklist ticks by step and by item index in the step's whole checklist (all roles)."""
    if _TICKED not in st.session_state:
        st.session_state[_TICKED] = {}
    value: dict[int, dict[int, bool]] = st.session_state[_TICKED]
    return value


def checklist_answers(step: int) -> list[bool]:
    """Answers to ``checklists[step].for_role(role)`` in order (unticked is False; [] without a checklist)."""
    checklist = get_assistant().checklists.get(step)
    if checklist is None:
        return []
    marks, shown = ticked().get(step, {}), checklist.for_role(role())
    return [marks.get(i, False) for i, item in enumerate(checklist.items) if item in shown]


def proposals() -> dict[int, NextStep | None]:
    """The last next-step proposal shown for each step on the Journey page (None: the handbook names none)."""
    if _PROPOSALS not in st.session_state:
        st.session_state[_PROPOSALS] = {}
    value: dict[int, NextStep | None] = st.session_state[_PROPOSALS]
    return value


class Progress(BaseModel):
    """The journey progress file: role, current step and the ticked checklist items."""

    version: int = 1
    role: Role | None = None
    current_step: StepNumber | None = None
    # step -> ticks of the step's whole checklist (all roles), in the handbook's order
    checklists: dict[int, list[bool]] = Field(default_factory=dict)


def progress_json() -> str:
    """This session's progress as a small JSON document."""
    marks = {
        step: [items.get(i, False) for i in range(max(items) + 1)]
        for step, items in sorted(ticked().items())
        if items and any(items.values())
    }
    return Progress(role=role(), current_step=current_step(), checklists=marks).model_dump_json(indent=2)


def parse_progress(data: bytes | str) -> Progress:
    """Read a progress file; raise ValueError with a one-line reason when it is not one."""
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a JSON file ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict):
        raise ValueError("not a progress file: expected a JSON object")
    try:
        progress = Progress.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise ValueError(f"not a progress file: {where}: {first['msg']}") from None
    if any(not 1 <= step <= 10 for step in progress.checklists):
        raise ValueError("not a progress file: checklists must be for steps 1 to 10")
    return progress


def load_progress(progress: Progress) -> None:
    """Replace this session's progress (call from a widget callback, before the widgets are drawn)."""
    st.session_state[_TICKED] = {step: dict(enumerate(marks)) for step, marks in progress.checklists.items()}
    set_sidebar(progress.role, progress.current_step)
    for key in [k for k in st.session_state if str(k).startswith(CHECKBOX_PREFIX)]:
        del st.session_state[key]  # the checkboxes are drawn again from the loaded ticks
    proposals().clear()


# -- feedback -----------------------------------------------------------------------------------
def _stored_feedback(exchange: Exchange) -> int:
    """The feedback row of an exchange, created on first use."""
    if exchange.feedback_id is None:
        answer = exchange.answer
        exchange.feedback_id = feedback_store().add(
            question=exchange.question,
            answer=answer.text,
            citations=[c.model_dump() for c in answer.citations],
            settings=settings(),
            rating=exchange.rating,
            role=exchange.role,
            current_step=exchange.current_step,
            next_step=answer.next_step.step if answer.next_step else None,
        )
    return exchange.feedback_id


def rate(exchange: Exchange, rating: int | None) -> None:
    """Store the thumbs up (1) or down (0) given to an answer, or take it back (None)."""
    exchange.rating = rating
    if exchange.feedback_id is None and rating is None:
        return
    row = _stored_feedback(exchange)
    feedback_store().set_rating(row, rating)


def add_comment(exchange: Exchange, comment: str) -> None:
    """Store a comment on an answer."""
    exchange.comment = comment.strip()
    feedback_store().set_comment(_stored_feedback(exchange), exchange.comment)

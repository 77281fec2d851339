"""Rule-based follow-ups: rewrite "and for policy makers?" into a full question using the state."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.state import ConversationState

_ROLE_FOLLOWUP = re.compile(
    r"^(and|what about|how about|same)?\s*(for|as)?\s*(the|a|an)?\s*"
    r"(?P<who>policy[ -]?makers?|cluster (organi[sz]ations?|managers?))\s*\??$",
    re.I,
)
_NEXT_FOLLOWUP = re.compile(
    r"^(and|what about|how about)\s+(the\s+)?(next|following)\s+(one|step)(\s+then)?\s*\??$|^and (the )?(one )?after that\??$",
    re.I,
)
_PREVIOUS_FOLLOWUP = re.compile(
    r"^(and|what about|how about)\s+(the\s+)?(previous|prior)\s+(one|step)\s*\??$", re.I
)
_THAT_CASE = re.compile(r"\b(that|this|the same|the last)\s+(case(\s+study)?|example)\b", re.I)
_MORE = re.compile(r"^(tell me |say )?more( about (it|that|this))?( please)?[.!?]*$|^go on[.!?]*$", re.I)
_STEP_NUMBER = re.compile(r"\bstep\s*(\d{1,2})\b", re.I)


@dataclass(frozen=True)
class Rewrite:
    """A follow-up turned into a standalone question, with what it changes in the state."""

    question: str
    role: str | None = None
    step: int | None = None
    case: str | None = None
    followup: bool = False


def rewrite(question: str, state: ConversationState) -> Rewrite:
    """Make a follow-up standalone from the previous turn; other questions pass unchanged."""
    q = question.strip()
    prev = state.last_question
    if not prev:
        return Rewrite(q)
    role_match = _ROLE_FOLLOWUP.match(q)
    if role_match:
        who = role_match.group("who").lower()
        role = "policy_maker" if who.startswith("polic") else "cluster_organisation"
        audience = "policy makers" if role == "policy_maker" else "cluster organisations"
        base = re.sub(r"\s*\(for (policy makers|cluster organisations)\)$", "", prev)
        return Rewrite(f"{base} (for {audience})", role=role, followup=True)
    if (_NEXT_FOLLOWUP.match(q) or _PREVIOUS_FOLLOWUP.match(q)) and state.last_steps:
        delta = 1 if _NEXT_FOLLOWUP.match(q) else -1
        step = min(10, max(1, state.last_steps[-1] + delta))
        if _STEP_NUMBER.search(prev):
            return Rewrite(_STEP_NUMBER.sub(f"step {step}", prev, count=1), step=step, followup=True)
        return Rewrite(f"{prev} (step {step})", step=step, followup=True)
    if _THAT_CASE.search(q) and state.last_case:
        return Rewrite(_THAT_CASE.sub(f"case {state.last_case}", q), case=state.last_case, followup=True)
    if _MORE.match(q):
        return Rewrite(prev, followup=True)
    return Rewrite(q)

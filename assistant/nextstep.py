"""Deterministic next-step logic over the Internationalisation Journey (no LLM).

Resolution order in ``propose_next_step``: the step the user is at (a step named in the message >
``current_step`` > the single step with checklist answers > a confident inference), then the
condition the message describes (a loop or exit the handbook names from that step), then the
checklist (forward when met, stay when not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from assistant.journey import (
    CHECKLIST_MET,
    STEP_NUMBERS,
    Journey,
    Mention,
    Transition,
    count_matches,
    default_journey,
    first_match,
    normalise_message,
)
from ingest.records import Checklist, ChecklistItem

#: Below this confidence an inferred step is confirmed with the user before proposing anything.
CONFIDENT = 0.6
# Scoring of the steps a message describes: an alias or a situation is a strong sign, a hint a weak one.
_STRONG = 1.0
_HINT = 0.4
# Only a step named by number is certain; inference from descriptions is capped below that.
_MAX_INFERRED = 0.9


@dataclass(frozen=True)
class NextStepProposal:
    """Where the handbook sends the user next, why, and the handbook sentence that says so."""

    step: int
    title: str
    reason: str
    quote: str
    transition_id: str
    kind: str  # forward | loop | exit | stay (stay: the checklist of the current step is not met yet)
    from_step: int | None  # the step the user is at; None when only the condition placed them
    checklist: list[str] = field(default_factory=list)  # items of the step being left, for the role


@dataclass(frozen=True)
class Clarification:
    """One question to ask when it is unclear which step the user is at, with the candidate steps."""

    question: str
    candidates: list[int]


def detect_condition(journey: Journey, text: str) -> str | None:
    """The transition condition a message describes (earliest cue; loops and exits before checklist_met)."""
    norm = normalise_message(text)
    found: list[tuple[bool, int, str]] = []
    for condition, cues in journey.cues_by_condition().items():
        pos = first_match(cues, norm)
        if pos is not None:
            # "we completed the whole journey" also says "completed": the specific condition wins.
            found.append((condition == CHECKLIST_MET, pos, condition))
    return min(found)[2] if found else None


def asks_next_step(text: str, journey: Journey) -> bool:
    """Whether a message asks in so many words where to go next ("which step follows?")."""
    return first_match(journey.next_step_questions, normalise_message(text)) is not None


def is_next_step_question(text: str, journey: Journey | None = None) -> bool:
    """Whether a message asks what to do next or says a step (or its checklist) is completed."""
    j = journey or default_journey()
    norm = normalise_message(text)
    completed = j.cues_by_condition().get(CHECKLIST_MET, [])
    return first_match(j.next_step_questions, norm) is not None or first_match(completed, norm) is not None


def _own_mentions(journey: Journey, text: str) -> list[Mention]:
    """Steps named as where the user is or was (not as where to go)."""
    return [m for m in journey.step_mentions(text) if not m.target]


def _scores(journey: Journey, text: str, own: Sequence[Mention]) -> tuple[dict[int, float], bool]:
    """How strongly a message describes being at each step, and whether any sign is strong."""
    norm = normalise_message(text)
    scores: dict[int, float] = {}
    strong = False
    for m in own:
        if m.via == "alias":
            scores[m.step] = scores.get(m.step, 0.0) + _STRONG
            strong = True
    for s in journey.steps:
        situations = count_matches(s.situations, norm)
        strong = strong or situations > 0
        score = situations * _STRONG + count_matches(s.hints, norm) * _HINT
        if score:
            scores[s.number] = scores.get(s.number, 0.0) + score
    return scores, strong


def _ranked(scores: Mapping[int, float]) -> list[int]:
    return sorted(scores, key=lambda n: (-scores[n], n))


def infer_current_step(journey: Journey, text: str) -> tuple[int | None, float]:
    """The step a message says the user is at, with a confidence in [0, 1] (1.0 only for a step number)."""
    own = _own_mentions(journey, text)
    numbered = [m.step for m in own if m.via != "alias"]
    if numbered:
        return max(numbered), 1.0  # "we finished steps 3 and 4": the furthest step is where they are
    scores, _ = _scores(journey, text, own)
    if not scores:
        return None, 0.0
    best = _ranked(scores)[0]
    top = scores[best]
    # Penalise both weak evidence (hints only) and evidence spread over several steps.
    return best, round(_MAX_INFERRED * min(1.0, top) * top / sum(scores.values()), 3)


def _known_steps(
    own: Sequence[Mention],
    current_step: int | None,
    answers: Mapping[int, Sequence[bool]],
    inferred: int | None,
) -> list[int]:
    """Steps the user may be at, most trustworthy first."""
    numbered = sorted({m.step for m in own if m.via != "alias"}, reverse=True)
    aliased = sorted({m.step for m in own if m.via == "alias"}, reverse=True)
    answered = [n for n in answers if n in STEP_NUMBERS] if len(answers) == 1 else []
    ordered = [*numbered, *aliased, *([current_step] if current_step else []), *answered]
    ordered += [inferred] if inferred else []
    return list(dict.fromkeys(ordered))


def _transition_for_condition(
    journey: Journey,
    condition: str,
    known: Sequence[int],
    mentions: Sequence[Mention],
    scores: Mapping[int, float],
    guess: int | None,
) -> tuple[Transition, int | None] | None:
    """The loop or exit for a condition, and the step the user is known to leave from (if any)."""
    for n in known:
        t = journey.transition(n, condition)
        if t is not None:
            return t, n
    candidates = journey.with_condition(condition)
    if known:
        # The handbook names this condition only elsewhere. Follow it only if the user names where it
        # leads ("our project failed – is it Step 6 now?"); otherwise the condition does not apply here.
        named = {m.step for m in mentions}
        candidates = [t for t in candidates if t.to in named]
        if not candidates:
            return None

    # Not at a known step: the from-step the message describes best, else the one nearest the guess,
    # else the first listed in journey.yaml.
    def rank(t: Transition) -> tuple[float, int, int]:
        nearest = abs(t.from_ - guess) if guess else 0
        return (-scores.get(t.from_, 0.0), nearest, journey.transitions.index(t))

    return min(candidates, key=rank), None


def _items(checklists: Mapping[int, Checklist], step: int, role: str | None) -> tuple[ChecklistItem, ...]:
    checklist = checklists.get(step)
    return checklist.for_role(role) if checklist is not None else ()


def _unmet(items: Sequence[ChecklistItem], answers: Sequence[bool]) -> list[str]:
    """Items whose answer is not True; answers align with the role's items and missing ones are unmet."""
    return [
        items[i].text if i < len(items) else f"item {i + 1}"
        for i in range(max(len(items), len(answers)))
        if not (i < len(answers) and answers[i] is True)
    ]


def _sentence(text: str) -> str:
    """End a sentence with a full stop unless it already ends with punctuation ("Step 1 – Why?")."""
    return text if text.endswith(("?", "!", ".")) else text + "."


def _direction(t: Transition) -> str:
    return "moves you on to" if t.kind == "forward" else "takes you back to"


def _move(
    journey: Journey,
    t: Transition,
    from_step: int | None,
    items: Sequence[ChecklistItem],
    why: str,
) -> NextStepProposal:
    target = journey.step(t.to)
    return NextStepProposal(
        step=t.to,
        title=target.title,
        reason=why,
        quote=t.quote,
        transition_id=t.id,
        kind=t.kind,
        from_step=from_step,
        checklist=[i.text for i in items],
    )


def _because(journey: Journey, t: Transition) -> str:
    """Reason for a loop or exit the user's words describe."""
    target = journey.step(t.to).label
    summary = journey.conditions[t.condition]
    if t.kind == "exit":
        dead_end = "the journey reaches a dead end: the handbook can only take you back to"
        return _sentence(f"Because {summary}, {dead_end} {target}")
    return _sentence(f"Because {summary}, the handbook {_direction(t)} {target}")


def _onward_reason(journey: Journey, step: int, t: Transition, met: bool) -> str:
    """Reason for leaving a step whose checklist is met (or said to be)."""
    target = journey.step(t.to).label
    again = "" if t.kind == "forward" else " to go through the Internationalisation Journey again"
    if met:
        return _sentence(
            f"You have met the Step {step} checklist, so the handbook {_direction(t)} {target}{again}"
        )
    return _sentence(f"Once the Step {step} checklist is met, the handbook {_direction(t)} {target}{again}")


def _stay(
    journey: Journey, step: int, items: Sequence[ChecklistItem], unmet: Sequence[str] | None
) -> NextStepProposal:
    """Propose staying on a step until its checklist is met."""
    s = journey.step(step)
    onward = journey.onward(step)
    if unmet:
        reason = f"Stay on {s.label}: its checklist is not met yet ({'; '.join(unmet)})."
    else:
        reason = _sentence(
            f"Stay on {s.label} until its checklist is met; "
            f"then the handbook {_direction(onward)} {journey.step(onward.to).label}"
        )
    return NextStepProposal(
        step=step,
        title=s.title,
        reason=reason,
        quote=s.completion,
        transition_id=onward.id,
        kind="stay",
        from_step=step,
        checklist=[i.text for i in items],
    )


def _steps_phrase(numbers: Sequence[int]) -> str:
    """'Steps 1–5', 'Steps 6 and 10', 'Step 3'."""
    nums = sorted(numbers)
    if len(nums) == 1:
        return f"Step {nums[0]}"
    if len(nums) > 2 and nums == list(range(nums[0], nums[-1] + 1)):
        return f"Steps {nums[0]}\u2013{nums[-1]}"
    return "Steps " + ", ".join(map(str, nums[:-1])) + f" and {nums[-1]}"


def _or_list(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" or {parts[-1]}"


def _clarify(journey: Journey, scores: Mapping[int, float]) -> Clarification:
    """Ask which step the user is at, offering the 2–3 likeliest steps (or the phases if none is likely)."""
    ranked = _ranked(scores)[:3]
    if len(ranked) == 1:  # one weak sign: offer the step and the one after it
        n = ranked[0]
        ranked.append(n + 1 if n < STEP_NUMBERS[-1] else n - 1)
    if not ranked:
        phases = [
            f"{p.title} ({_steps_phrase([s.number for s in journey.steps if s.phase == p.id])})"
            for p in journey.phases
        ]
        return Clarification(
            f"Which step of the Internationalisation Journey are you at \u2013 {_or_list(phases)}?", []
        )
    labels = [journey.step(n).label for n in ranked]
    return Clarification(
        f"Which step of the Internationalisation Journey are you at: {_or_list(labels)}?", ranked
    )


def propose_next_step(
    journey: Journey,
    checklists: Mapping[int, Checklist],
    text: str,
    current_step: int | None,
    role: str | None = None,
    checklist_answers: Mapping[int, Sequence[bool]] | None = None,
    condition: str | None = None,
) -> NextStepProposal | Clarification | None:
    """Propose the next step for a message, or ask which step the user is at; None if off-topic.

    ``checklist_answers[n]`` are the answers to ``checklists[n].for_role(role)``, in order.
    An out-of-range ``current_step`` is ignored. ``condition`` (one the user picked among offered
    choices) overrides the condition the cues read in the message.
    """
    picked = condition
    text = text or ""
    answers = checklist_answers or {}
    current = current_step if current_step in STEP_NUMBERS else None
    mentions = journey.step_mentions(text)
    own = [m for m in mentions if not m.target]
    condition = picked or detect_condition(journey, text)
    asked = is_next_step_question(text, journey)
    scores, strong = _scores(journey, text, own)
    inferred, confidence = infer_current_step(journey, text)
    known = _known_steps(own, current, answers, inferred if confidence >= CONFIDENT else None)

    about_journey = bool(mentions or condition or asked or strong or (known and answers.get(known[0])))
    if not about_journey:
        return None

    if condition is not None and condition != CHECKLIST_MET:
        chosen = _transition_for_condition(journey, condition, known, mentions, scores, inferred)
        if chosen is None and picked:  # the user said so: follow it even where no known step leads
            chosen = _transition_for_condition(journey, condition, (), mentions, scores, inferred)
        if chosen is not None:
            t, from_step = chosen
            return _move(journey, t, from_step, _items(checklists, t.from_, role), _because(journey, t))

    if not known:
        return _clarify(journey, scores)
    step = known[0]
    items = _items(checklists, step, role)
    step_answers = answers.get(step)
    if step_answers:
        unmet = _unmet(items, step_answers)
        if unmet:
            return _stay(journey, step, items, unmet)
        onward = journey.onward(step)
        return _move(journey, onward, step, items, _onward_reason(journey, step, onward, met=True))
    if condition == CHECKLIST_MET or asked or step == STEP_NUMBERS[-1]:
        # Step 10 has nowhere else to go: the handbook sends a finished journey back to Step 3.
        # Saying the step is completed counts as meeting its checklist; only asking does not.
        onward = journey.onward(step)
        why = _onward_reason(journey, step, onward, met=condition == CHECKLIST_MET)
        return _move(journey, onward, step, items, why)
    return _stay(journey, step, items, None)

"""Read a message once, in the light of the conversation: one typed ``Reading`` for every later stage.

The reader sits behind a small interface (``Reader``) chosen by the ``reader`` setting, like the LLM
backends; ``rules`` reads with the cue lists of ``corpus/cues.yaml`` and the journey model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from assistant import route as routing
from assistant.cues import Cues
from assistant.journey import Journey
from assistant.retrieve import Filters, Route
from assistant.route import CaseInfo
from assistant.settings import READERS
from assistant.state import Choice, ConversationState, Topic
from assistant.text import split_sentences, terms
from ingest.handbook import step_part

if TYPE_CHECKING:
    from assistant.situations import SituationExamples

MAX_QUESTION = 2000  # longer questions are cut: no passage of the handbook needs more to be found
_STEP_NUMBER = re.compile(r"\bstep\s*(\d{1,2})\b", re.I)
#: A follow-up with at most this many content words of its own ("who paid for it?") says too little to judge its topic.
_FEW_TERMS = 1


@dataclass(frozen=True)
class Reading:
    """What one message means, read once: every later stage works from this."""

    message: str  # the user's words, cut to MAX_QUESTION
    query: str  # what retrieval searches: instructions removed, a follow-up made standalone
    scope_query: str  # what the scope rules are taken on: the message with its references resolved
    margin_query: (
        str  # what the example margin is taken on: the message's own words (or a rewritten question)
    )
    answer_query: str  # whose words the quoted sentences must share: the message's own, not the topic's
    route: Route  # the steps, cases, parts and audience it names or refers back to
    intent: str  # general | checklist | case | step | next_step | start | context
    answer_context: str = ""  # a follow-up: the question it leans on, whose words count for less
    injected: bool = False
    wants_lessons: bool = False
    followup: bool = False  # it leans on the previous turn
    explicit: bool = False  # it points back in so many words ("that checklist"): the topic wins
    named: bool = False  # it names a step, Utilise Funding or a case number itself (an explicit reference)
    case_from_followup: str | None = None
    role: str | None = None  # the role this answer is for
    kept_role: str | None = None  # the role the conversation keeps from now on
    role_source: str | None = None
    only_who: bool = False  # the message only says who the user is ("I'm with a regional ministry")
    only_where: bool = False  # it only tells work under way, nothing changed ("we're halfway through …")
    current_step: int | None = None
    step_source: str | None = None
    condition: str | None = None  # the journey condition the user picked among offered choices
    condition_confidence: float = 0.0
    scope_signals: frozenset[str] = frozenset()  # writing_task, time_sensitive, speaks_of_time, …
    unknown_names: tuple[str, ...] = ()
    entity: tuple[str, str] | None = None  # (kind, phrase) of a named thing: ("tube_line", "red line")
    situation: str = ""  # the user's recent words that may tell where they are on the journey
    filters: Filters | None = None  # where retrieval must keep to ("that stage": the step just discussed)
    choices: tuple[Choice, ...] = ()  # conditions to offer when examples, not cues, recognise a situation
    query_vector: tuple[float, ...] | None = None  # the query's embedding, when a reader already made it


class Reader(Protocol):
    """Turns a message and its conversation into one ``Reading``."""

    name: str

    def read(self, message: str, state: ConversationState) -> Reading:
        """Read one message of a conversation."""
        ...


@dataclass(frozen=True)
class _Followup:
    """A follow-up made standalone: the question, and what it changes."""

    question: str
    role: str | None = None
    case: str | None = None
    scope_query: str | None = None
    own_words: str | None = None  # a message pointing back: its own words, for the margin and the quotes
    inherit: bool = False  # the route falls back to the previous topic's steps, case and part
    scoped: bool = False  # "that stage": retrieval keeps to the previous topic's steps
    explicit: bool = False  # "that checklist": the previous topic wins over what the message names


class RuleReader:
    """Reads with cue lists and the journey model; deterministic, no model involved."""

    name = "rules"

    def __init__(
        self, journey: Journey, cases: Sequence[CaseInfo], cues: Cues, vocabulary: Container[str]
    ) -> None:
        self.journey, self.cases, self.cues, self.vocabulary = journey, cases, cues, vocabulary

    def read(self, message: str, state: ConversationState) -> Reading:
        """Read one message of a conversation."""
        raw = (message or "").strip()[:MAX_QUESTION]
        cleaned, injected = routing.strip_injection(raw, cues=self.cues.route)
        at_step = state.current_step is not None
        own_next = routing.wants_next_step(cleaned, self.journey, at_step=at_step, cues=self.cues.route)
        base = routing.read_question(cleaned, self.journey, self.cases, own_next, cues=self.cues.route)
        own, query, next_q = base.route, cleaned, own_next
        follow = self._followup(cleaned, state, own, own_next)
        if follow:  # the standalone question is read again: it names what the message only pointed at
            query = follow.question
            next_q = routing.wants_next_step(query, self.journey, at_step=at_step, cues=self.cues.route)
            base = routing.read_question(query, self.journey, self.cases, next_q, cues=self.cues.route)
        route = base.route
        if follow and follow.inherit:
            route = self._inherit(route, state.topic, follow.explicit)
        if follow and follow.own_words:  # who it is for is in the message's own words, not the topic's
            route = replace(route, audience=routing.audience_of(follow.own_words, cues=self.cues.route))
        if follow and follow.case and not route.cases:
            route = replace(route, cases=(follow.case,))
        scope_query = (follow.scope_query if follow else None) or base.query
        own_words = (follow.own_words if follow else None) or base.query
        # "And who paid for it?" has too few words of its own to say what it is about: the margin is
        # taken on it with its reference resolved; the scope rules read its own words all the same.
        few = follow is not None and follow.inherit and len(set(terms(own_words))) <= _FEW_TERMS
        margin_words = scope_query if few else own_words
        reading = Reading(
            message=raw,
            query=base.query,
            scope_query=scope_query,
            margin_query=margin_words,
            answer_query=own_words,
            answer_context=(state.last_question or "") if follow else "",
            route=route,
            intent=base.intent,
            injected=injected or base.injected,
            wants_lessons=base.wants_lessons,
            followup=follow is not None,
            explicit=bool(follow and follow.explicit),
            named=self._names(base.query, own if follow and follow.inherit else route),
            case_from_followup=follow.case if follow else None,
            scope_signals=self._scope_signals(scope_query),
            unknown_names=tuple(routing.unknown_names(scope_query, self.vocabulary, cues=self.cues.route)),
            entity=self.cues.followup.entity_in(query),
            situation=self._situation(state, base.query),
            filters=Filters.of(parts=[step_part(n) for n in route.steps])
            if follow and follow.scoped
            else None,
        )
        outcome = self.cues.followup.case_outcome.search(follow.own_words or "") if follow else None
        if follow and follow.inherit and reading.route.cases and reading.intent == "general" and outcome:
            # "Did it work?" about the case just discussed: what the case teaches answers it.
            reading = replace(reading, intent="case", wants_lessons=True)
        reading = self._who(reading, follow, state)
        reading = replace(reading, only_where=not next_q and self._only_where(raw))
        return self._shape_intent(reading, own, next_q)

    def _only_where(self, text: str) -> bool:
        """A statement of work under way that tells no change: it places the user, it asks for no move."""
        # One sentence: "Halfway through the project, an investor offered …. It carries on." tells an event.
        statement = not text.rstrip().endswith("?") and len(split_sentences(text)) == 1
        return (
            statement
            and bool(self.cues.in_progress.search(text))
            and not self.cues.change_marker.search(text)
        )

    # -- what the message names --------------------------------------------------------------
    def _names(self, query: str, route: Route) -> bool:
        """An explicit reference: a step, Utilise Funding or a case by its number (not a title word)."""
        by_number = route.cases and routing.names_case_number(query, cues=self.cues.route)
        return bool(route.steps or route.funding or by_number)

    def _scope_signals(self, text: str) -> frozenset[str]:
        scope = self.cues.scope
        checks = {
            "writing_task": scope.writing_task,
            "action_task": scope.action_task,
            "time_sensitive": scope.time_sensitive,
            "speaks_of_time": scope.speaks_of_time,
            "about_the_handbook": scope.about_the_handbook,
        }
        return frozenset(name for name, pattern in checks.items() if pattern.search(text))

    @staticmethod
    def _situation(state: ConversationState, query: str) -> str:
        """The last two user messages and this one: earlier turns often say what happened."""
        return " ".join([t.content for t in state.history if t.role == "user"][-2:] + [query])

    @staticmethod
    def _inherit(route: Route, topic: Topic | None, explicit: bool = False) -> Route:
        """A message that points back keeps the previous topic's steps, case and part where it names none.

        ``explicit`` ("does that checklist mention training?"): the topic wins over what it names.
        """
        if topic is None or (not explicit and (route.steps or route.cases or route.parts)):
            return route
        parts = (topic.part,) if topic.part and not topic.part.startswith("step-") and not topic.case else ()
        return replace(
            route,
            steps=tuple(topic.steps),
            cases=(topic.case,) if topic.case else (),
            parts=tuple(p for p in parts if p != "funding"),
            funding=route.funding or topic.part == "funding",
        )

    # -- follow-ups ------------------------------------------------------------------------------
    def _followup(self, text: str, state: ConversationState, own: Route, asks_next: bool) -> _Followup | None:
        """A message that leans on the previous turn, made standalone; None for a standalone message."""
        prev = state.last_question
        if not prev:
            return None
        rewritten = self._rewrite(text, state, prev)
        if rewritten or asks_next:
            return rewritten  # "what now?" needs no topic: the situation told earlier says where they are
        return self._reference(text, state, own)

    def _rewrite(self, text: str, state: ConversationState, prev: str) -> _Followup | None:
        """ "And for policy makers?", "and the next step?", "that case", "tell me more"."""
        cues = self.cues.followup
        role_match = cues.role.match(text)
        if role_match:
            who = role_match.group("who").lower()
            role = "policy_maker" if who.startswith("polic") else "cluster_organisation"
            audience = "policy makers" if role == "policy_maker" else "cluster organisations"
            base = re.sub(r"\s*\(for (policy makers|cluster organisations)\)$", "", prev)
            return _Followup(f"{base} (for {audience})", role=role)
        step_delta = 1 if cues.next.match(text) else -1 if cues.previous.match(text) else 0
        if step_delta and state.last_steps:
            step = min(10, max(1, state.last_steps[-1] + step_delta))
            if _STEP_NUMBER.search(prev):
                return _Followup(_STEP_NUMBER.sub(f"step {step}", prev, count=1))
            return _Followup(f"{prev} (step {step})")
        if cues.that_case.search(text) and state.last_case:
            return _Followup(cues.that_case.sub(f"case {state.last_case}", text), case=state.last_case)
        if cues.more.match(text):
            return _Followup(prev)
        return None

    def _reference(self, text: str, state: ConversationState, own: Route) -> _Followup | None:
        """A message pointing back ("who paid for it?", "and the red one?"): the previous topic fills it in."""
        topic = state.topic
        cues = self.cues.followup
        explicit = cues.explicit.search(text) is not None
        if topic is None or (not explicit and (own.steps or own.cases or own.parts or own.funding)):
            return None
        another = cues.another_one.search(text)
        if another and topic.entity and topic.entity_kind:
            question = self._another(topic, another.group("which"))
            if question:
                return _Followup(question, scope_query=question, inherit=True)
        if not (cues.leading.search(text) or cues.references.search(text)):
            return None
        if len(set(terms(text))) > 8 and not explicit:  # a long message carries its own topic
            return None
        step_label = self.journey.step(topic.steps[0]).label if topic.steps else ""
        label = topic.case_title or topic.entity or step_label
        context = label or topic.question
        resolved = f"{text} ({label})" if label else text
        scoped = bool(topic.steps) and cues.step_reference.search(text) is not None
        return _Followup(
            f"{text} ({context})",
            scope_query=resolved,
            own_words=text,
            inherit=True,
            scoped=scoped,
            explicit=explicit,
        )

    def _another(self, topic: Topic, which: str) -> str | None:
        """ "And the red one?" after "the dark blue line": the same question about the other one."""
        assert topic.entity is not None and topic.entity_kind is not None
        other = f"{which} {topic.entity.split()[-1]}"
        if topic.entity in topic.question:
            return topic.question.replace(topic.entity, other)
        template = self.cues.followup.entity_questions.get(topic.entity_kind)
        return template.format(which=which) if template else None

    # -- who the user is, where they are, what they ask for ------------------------------------
    def _who(self, reading: Reading, follow: _Followup | None, state: ConversationState) -> Reading:
        """Role and current step: said now, said earlier, inferred, or chosen in the UI."""
        found = next(((r, m) for r, p in self.cues.roles.items() if (m := p.search(reading.message))), None)
        said = found[0] if found else None
        rest = reading.message.replace(found[1].group(0), " ") if found else reading.message
        only_who = found is not None and len(set(terms(rest))) <= 2
        # The role this answer is for: one the message says ("for policy makers") wins for this answer;
        # one the user says of themselves ("I'm with a ministry") is kept until they say otherwise.
        role = said or (follow.role if follow else None) or reading.route.audience or state.role
        kept: str | None = role
        source: str | None = "said" if role else None
        if said:
            kept, source = said, "said"
        elif state.role:
            kept, source = state.role, "earlier" if state.role_source == "said" else state.role_source or "ui"
        step, step_source = state.current_step, state.step_source or ("ui" if state.current_step else None)
        if step is not None and step_source == "said":
            step_source = "earlier"
        return replace(
            reading,
            role=role,
            kept_role=kept,
            role_source=source,
            only_who=only_who,
            current_step=step,
            step_source=step_source,
        )

    def _shape_intent(self, reading: Reading, own: Route, next_q: bool) -> Reading:
        """Where the journey starts, and statements that only say who or where the user is."""
        text = reading.message
        plain = not (own.steps or own.cases or own.parts or own.funding)
        if plain and not next_q and self.cues.start.search(text):
            return replace(reading, intent="start")
        statement = not text.rstrip().endswith("?") and self.cues.self_introduction.search(text) is not None
        if statement and reading.intent == "general" and not reading.followup:
            return replace(reading, intent="context")
        return reading


class ReaderConfigError(ValueError):
    """The ``reader`` setting names no known reader."""


def reader_from_setting(
    setting: str,
    journey: Journey,
    cases: Sequence[CaseInfo],
    cues: Cues,
    vocabulary: Container[str],
    examples: SituationExamples | None = None,
    embed: Callable[[str], Sequence[float]] | None = None,
    situation_margin: float = 0.0,
    situation_odds: float = 3.0,
) -> Reader:
    """The reader a setting names; an unknown one is an error listing the valid ones.

    ``rules+examples`` needs the example situations and an embedding function (without them it reads
    with the rules alone).
    """
    if setting == "rules":
        return RuleReader(journey, cases, cues, vocabulary)
    if setting in ("rules+examples", "rules+classifier"):
        from assistant.situations import ExampleReader, SituationClassifier

        rules = RuleReader(journey, cases, cues, vocabulary)
        if embed is None:
            return rules
        if setting == "rules+classifier" and examples is not None:
            # The classifier's scores are log-probabilities: a lead of log(odds) is "odds times likelier".
            ranker = SituationClassifier(examples)
            odds = math.log(situation_odds)
            return ExampleReader(rules, journey, ranker, embed, odds, cues.own_situation, setting)
        return ExampleReader(rules, journey, examples, embed, situation_margin, cues.own_situation)
    raise ReaderConfigError(f"unknown reader {setting!r}: use one of {', '.join(READERS)}")

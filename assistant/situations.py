"""Situations told in everyday words: the nearest example situations, the choices offered, the user's pick.

The cue lists of ``corpus/journey.yaml`` are the precise first pass. When they recognise no condition in
a message that tells the user's own situation, the reader scores it against the example situations of
``corpus/situations.jsonl`` (and the off-topic questions): ``rules+classifier`` (the default) with a
logistic regression trained on them, ``rules+examples`` by the mean cosine of the nearest examples per
label. If ``neutral`` or ``off_topic`` scores best, nothing happens; otherwise the assistant asks
one short question offering the nearest conditions, each with the step it leads to. The next message
may pick one ("2", "the second", "yes, it failed", the label of a quick-reply button).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from assistant.cues import default_cues
from assistant.journey import CHECKLIST_MET, Journey
from assistant.nextstep import CONFIDENT, asks_next_step, detect_condition, infer_current_step
from assistant.reader import Reader, Reading
from assistant.state import Choice, ConversationState
from assistant.text import split_sentences, terms
from ingest.example_index import OFF_TOPIC, SITUATION, ExampleVectors, unit_rows

NEUTRAL = "neutral"
#: How many nearest examples of a label make its score.
NEAREST_PER_LABEL = 3
#: How many conditions one question offers at most.
MAX_CHOICES = 3
#: A reply longer than this (in words) is a new message, not a pick.
MAX_PICK_WORDS = 12
#: A question with this many content words asks for facts, not about the user's own situation.
_CONTENT_TERMS = 4

#: Per condition: the label of its choice, and how the question asks about it ("did the project …").
WORDING: dict[str, tuple[str, str]] = {
    "checklist_met": ("You have met this step's checklist", "have you met this step's checklist"),
    "project_unsuccessful": ("The project did not work out", "did the project not work out"),
    "unexpected_event": ("Something unexpected came up", "did something unexpected come up"),
    "journey_complete": ("You have completed the whole journey", "have you completed the whole journey"),
    "not_international": ("You decided not to go international", "did you decide not to go international"),
    "reassess_readiness": ("Your readiness is in doubt", "is your readiness for international work in doubt"),
    "results_review": (
        "Your results call for a new strategy",
        "do your results call for a review of the strategy",
    ),
    "new_opportunity": ("A new opportunity came up", "has a new opportunity come up"),
    "reassess_why": (
        "Your reasons for going international changed",
        "have your reasons for going international changed",
    ),
    "cluster_decline": ("Your cluster is declining", "is your cluster declining or turning into a new one"),
}
# Questions about the handbook's contents tell no situation, even when they start with one.
_ABOUT_HANDBOOK = re.compile(r"\bhandbook\b|\bcase stud(?:y|ies)\b|\btube map\b", re.I)
_NUMBER = re.compile(r"^\s*(?:option|number|no\.?|#)?\s*([1-9])\s*[.)!]?\s*$", re.I)
_ORDINALS = (
    re.compile(r"\b(?:first|1st|former)\b", re.I),
    re.compile(r"\b(?:second|2nd)\b", re.I),
    re.compile(r"\b(?:third|3rd)\b", re.I),
)
_LAST = re.compile(r"\b(?:last|latter)\b", re.I)
_YES = re.compile(r"^\s*(?:yes|yeah|yep|right|correct|exactly)\b", re.I)


@dataclass(frozen=True)
class SituationExamples:
    """The example situations (conditions and neutral messages) and the off-topic questions, as unit rows."""

    situations: ExampleVectors
    off_topic: ExampleVectors | None = None

    @classmethod
    def from_vectors(cls, stored: dict[str, ExampleVectors]) -> SituationExamples | None:
        """From ``load_example_vectors``; None when the situations were never embedded."""
        if SITUATION not in stored:
            return None
        return cls(stored[SITUATION], stored.get(OFF_TOPIC))

    def nearest(self, vector: Sequence[float]) -> list[tuple[str, float]]:
        """Every label (condition, ``neutral``, ``off_topic``) with its score, nearest first.

        A label's score is the mean cosine of its ``NEAREST_PER_LABEL`` nearest examples: one stray
        example close in topic (a neutral message about the same test labs) then decides less, and a
        label with many examples is not favoured for having more chances at one close one.
        """
        unit = unit_rows([list(vector)])[0]
        by_label: dict[str, list[float]] = {}
        for rows, labels in self._groups():
            cosines = rows.vectors @ unit
            for label, cosine in zip(labels, cosines.tolist(), strict=True):
                by_label.setdefault(label, []).append(float(cosine))
        scores = {
            label: sum(sorted(c, reverse=True)[:NEAREST_PER_LABEL]) / min(len(c), NEAREST_PER_LABEL)
            for label, c in by_label.items()
        }
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))

    def _groups(self) -> list[tuple[ExampleVectors, Sequence[str]]]:
        groups: list[tuple[ExampleVectors, Sequence[str]]] = [(self.situations, self.situations.labels)]
        if self.off_topic is not None and len(self.off_topic.texts):
            groups.append((self.off_topic, [OFF_TOPIC] * len(self.off_topic.texts)))
        return groups


_FITTED: dict[str, Any] = {}


class SituationClassifier:
    """A logistic regression over the embedded examples: conditions, ``neutral`` and ``off_topic``.

    Trained once per process on the example situations and the off-topic questions (about 900 rows, a
    second on the CPU), then shared by every Assistant built over the same examples. Measured on the gold set and the developers' own probe messages it separates
    a change from a state better than the nearest examples do; its scores are log-probabilities.
    """

    #: Inverse regularisation: the examples are few and close in topic, so the fit is loose.
    C = 64.0

    def __init__(self, examples: SituationExamples) -> None:
        from sklearn.linear_model import LogisticRegression

        rows: list[tuple[ExampleVectors, Sequence[str]]] = [(examples.situations, examples.situations.labels)]
        if examples.off_topic is not None and len(examples.off_topic.texts):
            rows.append((examples.off_topic, [OFF_TOPIC] * len(examples.off_topic.texts)))
        x = np.vstack([vectors.vectors for vectors, _ in rows])
        y = [label for _, labels in rows for label in labels]
        # One fit per process and set of examples: every Assistant built over the same index shares it.
        key = hashlib.sha256(x.tobytes() + "\n".join(y).encode()).hexdigest()
        if key not in _FITTED:
            # Balanced: about 240 neutral messages and 35 per condition must not make "neutral" a default.
            model = LogisticRegression(C=self.C, max_iter=3000, class_weight="balanced")
            _FITTED[key] = model.fit(x, y)
        self.model = _FITTED[key]

    def nearest(self, vector: Sequence[float]) -> list[tuple[str, float]]:
        """Every label with its log-probability, likeliest first."""
        unit = unit_rows([list(vector)])
        scores = self.model.predict_log_proba(unit)[0]
        ranked = zip((str(c) for c in self.model.classes_), (float(v) for v in scores), strict=True)
        return sorted(ranked, key=lambda kv: (-kv[1], kv[0]))


def tells_own_situation(text: str, journey: Journey, own: re.Pattern[str] | None = None) -> bool:
    """A message that may tell the user's own situation: a personal statement or a "what now?" question.

    ``own``: the words by which a statement is about the user (the ``own_situation`` cues).

    A question alone ("Should we start with nearby countries?") asks for advice and tells nothing.
    """
    if _ABOUT_HANDBOOK.search(text):
        return False
    if asks_next_step(text, journey):
        return True
    sentences = split_sentences(text)
    asked = [s for s in sentences if s.rstrip().endswith("?")]
    # "We're planning a delegation. Which visas will our members need?" asks for facts: answer that.
    if any(len(terms(s)) >= _CONTENT_TERMS for s in asked):
        return False
    own = own or default_cues().own_situation
    return any(own.search(s) and s not in asked for s in sentences)


def situation_gap(ranked: Sequence[tuple[str, float]]) -> float:
    """How far the best condition's score leads the best neutral or off-topic one (cosine or log-odds)."""
    told = [score for label, score in ranked if label not in (NEUTRAL, OFF_TOPIC)]
    untold = [score for label, score in ranked if label in (NEUTRAL, OFF_TOPIC)]
    return max(told, default=-1.0) - max(untold, default=-1.0)


def choices_for(
    journey: Journey,
    ranked: Sequence[tuple[str, float]],
    current_step: int | None,
    guess: int | None,
    margin: float = 0.0,
) -> list[Choice]:
    """The nearest conditions as choices, each with the step it leads to; none when neutral is nearest.

    ``margin``: the best condition must lead ``neutral`` and ``off_topic`` by at least this much, since
    a message that tells nothing often scores only a little nearer a condition.
    With a current step, only the transitions that leave it are offered; "you met the checklist" is
    offered only when a step is known or confidently inferred (``guess``), since it says where to go.
    """
    if not ranked or ranked[0][0] in (NEUTRAL, OFF_TOPIC) or situation_gap(ranked) < margin:
        return []
    out: list[Choice] = []
    for condition, _ in ranked:
        step = _leads_to(journey, condition, current_step, guess)
        if step is not None and condition in WORDING:
            out.append(Choice(condition=condition, step=step, label=WORDING[condition][0]))
        if len(out) == MAX_CHOICES:
            break
    return out


def _leads_to(journey: Journey, condition: str, current_step: int | None, guess: int | None) -> int | None:
    """The step a condition leads to from where the user is (None when it leads nowhere from there)."""
    if current_step is not None:
        t = journey.transition(current_step, condition)
        return t.to if t is not None else None
    if condition == CHECKLIST_MET:
        t = journey.transition(guess, condition) if guess else None
        return t.to if t is not None else None
    targets = journey.with_condition(condition)
    return targets[0].to if targets else None


def offer_question(choices: Sequence[Choice]) -> str:
    """One short question: "Did the project not work out (back to Step 6), or … (review Step 3)?"."""
    parts = [f"{WORDING[c.condition][1]} ({_move_words(c)})" for c in choices]
    asked = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f", or {parts[-1]}"
    numbers = " or ".join(str(i) for i in range(1, len(choices) + 1)).replace(" or ", ", ", len(choices) - 2)
    return f"{asked[0].upper()}{asked[1:]}? Reply {numbers}, or say it in your own words."


def _move_words(choice: Choice) -> str:
    if choice.condition == CHECKLIST_MET:
        return f"on to Step {choice.step}"
    if choice.condition in ("unexpected_event", "new_opportunity", "results_review"):
        return f"review Step {choice.step}"
    return f"back to Step {choice.step}"


def read_pick(reply: str, choices: Sequence[Choice], journey: Journey) -> Choice | None:
    """The offered choice a reply picks: a number, "the second", a button's label, or its words."""
    text = (reply or "").strip()
    if not choices or not text or len(text.split()) > MAX_PICK_WORDS:
        return None
    m = _NUMBER.match(text)
    if m:
        n = int(m.group(1))
        return choices[n - 1] if n <= len(choices) else None
    for choice in choices:
        if text.lower().rstrip(".!") == choice.label.lower():
            return choice
    for i, pattern in enumerate(_ORDINALS[: len(choices)]):
        if pattern.search(text):
            return choices[i]
    if _LAST.search(text):
        return choices[-1]
    if asks_next_step(text, journey):  # "so what comes after this?" asks again: not a pick in words
        return None
    said = detect_condition(journey, text)
    picked = next((c for c in choices if c.condition == said), None)
    return picked or _by_words(text, choices)


def _by_words(text: str, choices: Sequence[Choice]) -> Choice | None:
    """The one choice whose wording shares most words with the reply; a bare "yes" picks a sole choice."""
    said = set(terms(text))
    overlap = [len(said & set(terms(" ".join(WORDING[c.condition])))) for c in choices]
    best = max(overlap)
    if best and overlap.count(best) == 1:
        return choices[overlap.index(best)]
    return choices[0] if len(choices) == 1 and _YES.match(text) else None


class SituationRanker(Protocol):
    """Ranks the labels (conditions, ``neutral``, ``off_topic``) for a message vector, best first."""

    def nearest(self, vector: Sequence[float]) -> list[tuple[str, float]]:
        """Every label with its score, best first."""
        ...


class ExampleReader:
    """The rule reader, then the example situations where its cues recognise no condition."""

    def __init__(
        self,
        rules: Reader,
        journey: Journey,
        examples: SituationRanker | None,
        embed: Callable[[str], Sequence[float]],
        margin: float = 0.0,
        own: re.Pattern[str] | None = None,
        name: str = "rules+examples",
    ) -> None:
        self.rules, self.journey, self.examples, self.embed = rules, journey, examples, embed
        self.margin, self.own, self.name = margin, own, name

    def read(self, message: str, state: ConversationState) -> Reading:
        """Read one message; a pick of offered choices, or choices for a situation no cue recognises."""
        reading = self.rules.read(message, state)
        picked = read_pick(reading.message, state.choices, self.journey)
        if picked is not None:
            return replace(reading, intent="next_step", condition=picked.condition, condition_confidence=1.0)
        if not self._compares(reading):
            return reading
        text = self._told(reading)
        vector = self.embed(text)
        kept = tuple(vector) if text == reading.query else reading.query_vector
        ranked = self.examples.nearest(vector) if self.examples is not None else []
        if "?" not in text:  # the off-topic examples are requests: a plain statement is not one
            ranked = [(label, score) for label, score in ranked if label != OFF_TOPIC]
        guess, confidence = infer_current_step(self.journey, text)
        if confidence >= CONFIDENT and state.current_step is None:
            return replace(
                reading, query_vector=kept
            )  # it tells which step the user is at: the rules place them
        choices = choices_for(self.journey, ranked, state.current_step, None, self.margin)
        moving_on = bool(choices) and choices[0].condition == CHECKLIST_MET
        if not choices or (moving_on and asks_next_step(reading.message, self.journey)):
            return replace(
                reading, query_vector=kept
            )  # nothing told, or "what next?" at a step: the rules answer
        return replace(reading, intent="next_step", choices=tuple(choices), query_vector=kept)

    def _compares(self, reading: Reading) -> bool:
        """Only messages that may tell the user's own situation, and that no cue has read already."""
        return (
            self.examples is not None
            and reading.intent in ("general", "next_step", "context")
            and not reading.injected
            and not reading.only_who
            and not reading.only_where
            and detect_condition(self.journey, reading.message) is None
            and (reading.intent != "next_step" or detect_condition(self.journey, reading.situation) is None)
            and tells_own_situation(reading.message, self.journey, self.own)
            and not self._asks_only(reading)
        )

    def _asks_only(self, reading: Reading) -> bool:
        """A bare "what should we do next?" with nothing told before it: ask where they are instead."""
        return self._bare(reading) and reading.situation.strip() == reading.query.strip()

    def _told(self, reading: Reading) -> str:
        """What to compare: the message, or the situation told before a bare "what now?"."""
        return reading.situation if self._bare(reading) else reading.query

    def _bare(self, reading: Reading) -> bool:
        """A "what now?" that says nothing else (four content words at most)."""
        return asks_next_step(reading.message, self.journey) and len(terms(reading.message)) <= 4

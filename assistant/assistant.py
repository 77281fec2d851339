"""The one object the CLI, the UI and the evaluations call: ``Assistant.ask(question, state)``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from assistant import nextstep
from assistant.compose import Sources, boilerplate, label, render, select_passages, sentences_of
from assistant.cues import Cues, cues_at, default_cues_path
from assistant.journey import Journey, default_journey_path, load_journey
from assistant.reader import MAX_QUESTION, Reader, Reading, reader_from_setting
from assistant.retrieve import Filters, HybridIndex, Route, Scored, Weights
from assistant.route import CaseInfo, case_index, name_words
from assistant.scope import TOPIC_WORDS, Margin, ScopeExamples
from assistant.settings import Settings
from assistant.situations import SituationExamples, offer_question
from assistant.state import (
    Answer,
    Choice,
    Citation,
    ConversationState,
    NextStep,
    RetrievedChunk,
    Scope,
    Topic,
    Turn,
    replay,
)
from assistant.text import terms, words
from assistant.verify import quotable, verify
from ingest.chunk import contextual_text
from ingest.example_index import load_example_vectors
from ingest.handbook import ROLE_NAMES, STEP_NUMBERS
from ingest.records import Case, Checklist, ChecklistItem, Chunk

_CASE_LABEL = re.compile(
    r"^\s*(Description of case|The challenge to international cluster cooperation|Key lessons learned)\s*"
)
#: Why a message is refused, as the refusal says it ("… (it asks for a writing task) …").
WRITING_TASK = "a writing task"
ACTION_TASK = "a task to carry out, not a question the handbook answers"
AFTER_THE_HANDBOOK = "facts after the handbook was written (2012)"


@dataclass(frozen=True)
class Found:
    """What retrieval found: the ranking, the best dense similarity, and a notice when degraded."""

    ranked: list[Scored]
    strength: float
    degraded: str | None
    margin: Margin | None = None  # scope by examples (None when the examples are not indexed)


@dataclass
class Shaped:
    """The answer as it is being built: its lines and sources, and what it proposes or asks."""

    intent: str
    lines: list[str] = field(default_factory=list)
    sources: Sources = field(default_factory=Sources)
    proposal: NextStep | None = None
    clarification: str | None = None
    choices: list[Choice] = field(default_factory=list)  # conditions offered for the user to pick
    refused: bool = False
    refusal_reason: str | None = None
    missing: list[str] = field(default_factory=list)  # names in the question the handbook never mentions
    notice: str | None = None
    backend: str = "none"
    text: str = ""
    flagged: list[str] = field(default_factory=list)


class IndexMissing(RuntimeError):
    """There is no index yet; the message says which command builds it."""


class Assistant:
    """Answers questions from the handbook alone, with verified citations and next-step proposals."""

    def __init__(
        self, settings: Settings, index: HybridIndex, journey: Journey, chat_model: Any = None
    ) -> None:
        self.settings = settings
        self.index = index
        self.journey = journey
        self.chat_model = chat_model
        structure = index.store.structure()
        self.cases: dict[str, Case] = {}
        self.checklists: dict[int, Checklist] = {}
        self.funding_checklist: Checklist | None = None
        for doc in structure.values():
            for raw in doc.get("cases", []):
                raw["key_lessons"] = tuple(raw.get("key_lessons", ()))
                self.cases.setdefault(raw["case_id"], Case(**raw))
            for raw in doc.get("checklists", []):
                items = tuple(ChecklistItem(**i) for i in raw.get("items", []))
                checklist = Checklist(
                    raw["part"],
                    raw.get("step"),
                    raw.get("intro", ""),
                    items,
                    tuple(raw.get("next_words", ())),
                )
                if checklist.step is not None:
                    self.checklists.setdefault(checklist.step, checklist)
                elif checklist.part == "funding":
                    self.funding_checklist = checklist
        self.idf = _idf(index.chunks)
        self.boilerplate = boilerplate(index.chunks)
        # Chunk texts as token strings, once: answer shapes look passages up in them on every question.
        self._tokens = {c.chunk_id: " ".join(words(c.text)) for c in index.chunks}
        # Title words found in many chunks ("support", "innovation") cannot identify a case.
        df = _document_frequency(index.chunks, words)
        common = frozenset(w for w, n in df.items() if n > 8)
        cues_path = settings.corpus_dir / "cues.yaml"
        self.cues: Cues = cues_at(cues_path if cues_path.exists() else default_cues_path())
        self.case_info: list[CaseInfo] = case_index(
            [(c.case_id, c.title) for c in self.cases.values()],
            common,
            name_words(c.text for c in index.chunks),
            [(c.case_id, c.text) for c in index.chunks],
            cues=self.cues.route,
        )
        own_documents = sorted({c.doc_id for c in index.chunks if c.part == "other"})
        self.scope_examples = ScopeExamples.from_store(index.store, own_documents)
        situations = (
            SituationExamples.from_vectors(load_example_vectors(index.store))
            if settings.reader != "rules"
            else None
        )
        self.reader: Reader = reader_from_setting(
            settings.reader,
            journey,
            self.case_info,
            self.cues,
            self.idf,
            situations,
            index.embed,
            settings.situation_margin,
            settings.situation_odds,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        chat_model: Any = None,
        build_if_missing: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> Assistant:
        """Build the assistant (and, if asked, the index) from settings."""
        from assistant.llm import chat_model_from_settings

        settings = settings or Settings()
        store = settings.open_store()
        embedder = settings.embedder()
        if store.count() == 0:
            if not build_if_missing:
                raise IndexMissing(f"no index at {store.location}: run `handbook ingest` first")
            from ingest.pipeline import run_ingest

            summary = run_ingest(
                settings.default_sources(),
                store,
                embedder,
                settings.chunk_size,
                settings.chunk_overlap,
                progress=progress,
            )
            if store.count() == 0:
                raise IndexMissing("the index could not be built: " + "; ".join(summary.errors))
        store.check_model(embedder.name)
        weights = Weights(
            dense=settings.weight_dense,
            bm25=settings.weight_bm25,
            route=settings.route_boost,
            prior=settings.current_step_boost,
            rrf_k=settings.rrf_k,
            candidates=settings.candidates,
        )
        journey_path = settings.corpus_dir / "journey.yaml"
        journey = load_journey(journey_path if journey_path.exists() else default_journey_path())
        model = chat_model if chat_model is not None else chat_model_from_settings(settings)
        return cls(settings, HybridIndex(store, embedder, weights), journey, model)

    # -- retrieval -------------------------------------------------------------------------
    def retrieve(self, query: str, k: int | None = None, filters: Filters | None = None) -> list[Scored]:
        """Ranked chunks for a query (what the LangChain retriever and the evaluations use)."""
        reading = self.reader.read(query, ConversationState())
        ranked, _, _ = self.index.search(reading.query, k or self.settings.top_k, filters, reading.route)
        return ranked

    # -- answering -------------------------------------------------------------------------
    def ask(
        self, question: str, state: ConversationState | None = None, filters: Filters | None = None
    ) -> Answer:
        """Answer one question in a conversation; the answer carries the updated state."""
        answer: Answer | None = None
        for event in self.stream(question, state, filters):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def replay(
        self, turns: list[Turn], role: str | None = None, current_step: int | None = None
    ) -> ConversationState:
        """The state a conversation reaches: its user turns asked again in order (replies are recomputed)."""
        return replay(self.ask, turns, role, current_step)

    def stream(
        self, question: str, state: ConversationState | None = None, filters: Filters | None = None
    ) -> Iterator[str | Answer]:
        """Yield answer tokens as an LLM produces them (none without one), then the final ``Answer``.

        The stages: read → retrieve → shape → word (LLM) → verify → next state.
        """
        started = time.perf_counter()
        state = (state or ConversationState()).model_copy(deep=True)
        if not terms((question or "")[:MAX_QUESTION]) and not words((question or "")[:MAX_QUESTION]):
            text = "Please ask a question about the Cluster Internationalisation Handbook, for example: what does Step 6 involve?"
            yield Answer(question=question, text=text, state=state, intent="empty", timings_ms={"total": 0.0})
            return
        timings: dict[str, float] = {}
        reading, filters = self._read(question, state, filters)
        timings["read_ms"] = _ms(started)
        t = time.perf_counter()
        found = self._retrieve(reading, state, filters)
        timings["retrieve_ms"] = _ms(t)
        t = time.perf_counter()
        shaped = self._shape(reading, found, state)
        timings["compose_ms"] = _ms(t)
        if self._wants_llm(shaped, found):
            t = time.perf_counter()
            shaped = yield from self._word(reading, found, shaped, state)
            timings["llm_ms"] = _ms(t)
        t = time.perf_counter()
        shaped = self._verify(shaped, found)
        timings["verify_ms"] = _ms(t)
        state = self._next_state(state, reading, shaped)
        timings["total_ms"] = _ms(started)
        yield self._answer(question, reading, found, shaped, state, timings)

    # -- stages ----------------------------------------------------------------------------------
    def _read(
        self, question: str, state: ConversationState, filters: Filters | None
    ) -> tuple[Reading, Filters | None]:
        """Read the message once; "Ask about this case" keeps the conversation on one case."""
        reading = self.reader.read(question, state)
        if reading.followup and self.chat_model is not None:
            reading = self._condense(reading, state)
        filters = filters or reading.filters
        route = reading.route
        if state.scope_case and not route.cases and not route.steps:
            # The conversation is about one case until the user names another.
            route = replace(route, cases=(state.scope_case,))
            filters = filters or Filters.of(cases=[state.scope_case])
            intent = reading.intent
            if intent == "general" and self.cues.route.case_summary.search(reading.query):
                intent = "case"
            reading = replace(reading, route=route, intent=intent)
        return reading, filters

    def _condense(self, reading: Reading, state: ConversationState) -> Reading:
        """With an LLM, a follow-up is also rewritten by the model; a rewrite that loses the user's words is dropped."""
        from assistant.llm import condense

        rewrite = condense(self.chat_model, state.history, reading.message, self.settings.llm_timeout)
        return replace(reading, query=rewrite, query_vector=None) if rewrite else reading

    def _retrieve(self, reading: Reading, state: ConversationState, filters: Filters | None) -> Found:
        """Rank the chunks for the reading's query, routed by what it names or points back at."""
        kept = reading.query_vector  # the reader's embedding of this query, when it made one
        vector = list(kept) if kept is not None else self.index.embed(reading.query)
        ranked, strength, degraded = self.index.search(
            reading.query, self.settings.top_k, filters, reading.route, state.current_step, vector
        )
        margin = None
        if self.scope_examples is not None:
            same = reading.margin_query == reading.query
            margin = self.scope_examples.margin(
                vector if same else self.index.embed(reading.margin_query),
                # A question about a case is not held against the post-2014 examples about that case
                # ("Has the Medicon Valley programme grown since 2012?") unless it speaks of time too.
                after_the_handbook="speaks_of_time" in reading.scope_signals or not reading.route.cases,
            )
        return Found(ranked, strength, degraded, margin)

    def _shape(self, reading: Reading, found: Found, state: ConversationState) -> Shaped:
        """The answer's lines for what the reading asks: a next step, a checklist, a step, a case or passages."""
        shaped = Shaped(intent=reading.intent, notice=found.degraded)
        correction = self._false_premise(reading.query)
        if correction:
            shaped.lines.append(correction)
        if shaped.intent in ("start", "context"):
            self._shape_journey_start(reading, state, shaped)
        if shaped.intent == "next_step":
            self._shape_next_step(reading, state, shaped)
        if shaped.intent == "checklist":
            self._shape_checklist(reading, state, shaped)
        if shaped.intent == "step" and reading.route.steps:
            shaped.lines.extend(self._step_lines(reading.route.steps[0], shaped.sources))
        if shaped.intent == "case" and reading.route.cases:
            shaped.lines.extend(
                self._case_lines(reading.route.cases[0], reading, found.ranked, shaped.sources)
            )
        if shaped.intent == "general" or (shaped.intent == "case" and not reading.route.cases):
            self._shape_passages(reading, found, shaped)
        return shaped

    def _shape_next_step(self, reading: Reading, state: ConversationState, shaped: Shaped) -> None:
        """Where the journey goes next for the situation told, or one question asking where the user is."""
        if reading.choices:  # a situation the examples recognise: ask which of the nearest it is
            shaped.choices = list(reading.choices)
            shaped.clarification = offer_question(reading.choices)
            shaped.lines.append(shaped.clarification)
            return
        outcome = nextstep.propose_next_step(
            self.journey,
            self.checklists,
            reading.situation,
            state.current_step,
            reading.role,
            state.checklist_answers,
            condition=reading.condition,
        )
        if isinstance(outcome, nextstep.Clarification):
            shaped.clarification = outcome.question
            shaped.lines.append(outcome.question)
        elif outcome is not None:
            shaped.proposal, proposal_lines = self._proposal(outcome, reading.role, shaped.sources)
            shaped.lines.extend(proposal_lines)
        else:
            shaped.intent = "general"

    def _shape_checklist(self, reading: Reading, state: ConversationState, shaped: Shaped) -> None:
        """The checklist of the step asked about (or the one the user is at), for the user's role."""
        explicit = reading.route.steps[0] if reading.explicit and reading.route.steps else None
        step = explicit or self._checklist_step(reading.query, reading.route) or state.current_step
        if step is None and reading.route.funding and self.funding_checklist:
            shaped.lines.extend(
                self._checklist_lines(self.funding_checklist, reading.role, shaped.sources, "Utilise Funding")
            )
        elif step is None:
            guess, confidence = nextstep.infer_current_step(self.journey, reading.query)
            if guess is not None and confidence >= 0.6:
                step = guess
            else:
                shaped.clarification = (
                    "Which step's checklist do you mean? Tell me the step (1–10) you are on."
                )
                shaped.lines.append(shaped.clarification)
        if step is not None and step in self.checklists:
            shaped.lines.extend(self._checklist_lines(self.checklists[step], reading.role, shaped.sources))

    def _shape_passages(self, reading: Reading, found: Found, shaped: Shaped) -> None:
        """Quote the passages that answer the question, or refuse when the handbook does not cover it."""
        shaped.missing = list(reading.unknown_names)
        # With the vector store unreachable there is no similarity to judge coverage by: answer.
        why = None if found.degraded is not None else self._uncovered(reading, found)
        if not reading.query.strip() or (why and (not reading.named or why in (WRITING_TASK, ACTION_TASK))):
            shaped.refused, shaped.refusal_reason = True, why
            return
        passages = select_passages(
            reading.answer_query,
            found.ranked,
            self.idf,
            self.settings.answer_sentences,
            skip=self.boilerplate,
            lead=_entity_pattern(reading.entity),
            context=reading.answer_context,
        )
        passages = [p for p in passages if quotable(p.text)]  # never quote instructions
        shaped.lines.append(render(passages, shaped.sources))

    def _shape_journey_start(self, reading: Reading, state: ConversationState, shaped: Shaped) -> None:
        """Where the journey begins (Step 1), or a note of who and where the user said they are."""
        if shaped.intent == "context":
            shaped.lines.append(self._noted(reading, state))
            return
        start = self.journey.start
        chunk = self._find_chunk(start.quote)
        shaped.proposal = NextStep(
            step=start.step,
            title=self.journey.step(start.step).title,
            reason=start.reason,
            quote=start.quote,
            kind="start",
            transition_id="journey-start",
        )
        shaped.lines.extend([f"Start here: {self.journey.step(start.step).label}.", start.reason])
        if chunk is not None:
            quote = self._quote_sentence(chunk, start.quote)
            shaped.lines.append(f"The handbook: “{quote}” [{shaped.sources.cite(chunk, quote)}]")
        shaped.lines.append(self._journey_overview())
        shaped.lines.extend(self._step_lines(start.step, shaped.sources, sentences=2)[1:])

    def _journey_overview(self) -> str:
        """The ten steps in order, from the journey model."""
        return "The ten steps: " + " → ".join(f"{s.number}. {s.title}" for s in self.journey.steps) + "."

    def _noted(self, reading: Reading, state: ConversationState) -> str:
        """What the assistant took from a statement about the user, and what to ask next."""
        told: list[str] = []
        if reading.role_source == "said" and reading.kept_role:
            told.append(f"you speak for {ROLE_NAMES[reading.kept_role]}")
        step, confidence = nextstep.infer_current_step(self.journey, reading.message)
        # Only a confident step is kept (see _next_state); a weaker guess is offered, not assumed.
        if step is not None and confidence >= nextstep.CONFIDENT:
            told.append(f"you are at {self.journey.step(step).label}")
        said = "Noted: " + " and ".join(told) + "." if told else "Noted."
        if step is not None and confidence < nextstep.CONFIDENT:
            said += f" It sounds like {self.journey.step(step).label}: say so if it is."
        return (
            f"{said} Ask me what to do next, about a step, its checklist or a case study; "
            "you can correct your role and step in the sidebar."
        )

    def _wants_llm(self, shaped: Shaped, found: Found) -> bool:
        return (
            self.chat_model is not None
            and not shaped.refused
            and shaped.intent in ("general", "case", "step")
            and bool(found.ranked)
        )

    def _word(
        self, reading: Reading, found: Found, shaped: Shaped, state: ConversationState
    ) -> Generator[str, None, Shaped]:
        """Let the LLM word the answer from the top passages, streaming its tokens; keep what verifies."""
        from assistant.llm import LLMFailure, generate

        try:
            llm_sources = Sources()
            for scored in found.ranked[:5]:
                llm_sources.cite(scored.chunk, "")
            produced: list[str] = []
            for token in generate(
                self.chat_model, reading.query, llm_sources.order, state, self.settings.llm_timeout
            ):
                produced.append(token)
                yield token
            checked = verify("".join(produced), llm_sources.texts(), self.settings.support_threshold)
            if checked.text.strip():
                text, sources, backend = _renumber(checked.text, llm_sources, checked.used)
                shaped.lines, shaped.sources, shaped.backend = [text], sources, backend
                if checked.removed:
                    shaped.notice = f"{len(checked.removed)} unsupported sentence(s) were removed from the model's answer."
            else:
                shaped.notice = "The language model's answer could not be verified against the handbook; showing the extractive answer."
        except LLMFailure as exc:
            shaped.notice = f"The language model is unavailable ({exc}); showing the extractive answer."
        return shaped

    def _verify(self, shaped: Shaped, found: Found) -> Shaped:
        """Keep only sentences whose citation supports them; an answer with nothing left is a refusal."""
        text = "\n".join(x for x in shaped.lines if x)
        given = {i: contextual_text(c) for i, c in enumerate(shaped.sources.order, start=1)}
        final = verify(text, given, self.settings.support_threshold, allow_uncited=shaped.backend == "none")
        shaped.flagged, shaped.text = final.removed, final.text
        if not shaped.refused and not shaped.text.strip() and not shaped.clarification:
            shaped.refused = True
        if shaped.refused:
            shaped.text = self._refusal(found.ranked, shaped.refusal_reason)
            shaped.sources = Sources()
        if shaped.intent == "general" and not shaped.refused and shaped.missing:
            uncovered = (
                f"The handbook never mentions {', '.join(shaped.missing)}: "
                "this answer is what it says about the rest of the question."
            )
            shaped.notice = f"{shaped.notice} {uncovered}" if shaped.notice else uncovered
        return shaped

    def _answer(
        self,
        question: str,
        reading: Reading,
        found: Found,
        shaped: Shaped,
        state: ConversationState,
        timings: dict[str, float],
    ) -> Answer:
        """The final answer: text, citations, the ranking shown, the next step and the new state."""
        ranked = found.ranked
        if shaped.intent in ("checklist", "case", "next_step", "step", "start"):
            # The chunks an answer shape was built from were found by metadata: they lead the ranking.
            shown = [Scored(c, ranked[0].score + 1.0 if ranked else 1.0) for c in shaped.sources.order]
            ids = {c.chunk_id for c in shaped.sources.order}
            ranked = (shown + [r for r in ranked if r.chunk.chunk_id not in ids])[
                : max(self.settings.top_k, len(shown))
            ]
        return Answer(
            question=question,
            text=shaped.text,
            citations=self._citations(shaped.sources),
            retrieved=[retrieved_chunk(s) for s in ranked],
            refused=shaped.refused,
            next_step=shaped.proposal,
            clarification=shaped.clarification,
            choices=shaped.choices,
            intent=shaped.intent,
            notice=shaped.notice,
            backend=shaped.backend,
            rewritten_question=reading.query if reading.followup else None,
            scope=Scope(
                covered=not shaped.refused,
                reason=shaped.refusal_reason if shaped.refused else None,
                margin=found.margin.value if found.margin else None,
            ),
            flagged_sentences=shaped.flagged,
            timings_ms=timings,
            state=state,
        )

    # -- answer shapes ---------------------------------------------------------------------
    def _find_chunk(
        self, passage: str, part: str | None = None, case: str | None = None, audience: str | None = None
    ) -> Chunk | None:
        """The chunk that contains a passage (token match), preferring the given part/case/audience."""
        needle = " ".join(words(passage))
        if not needle:
            return None
        best: Chunk | None = None
        for chunk in self.index.chunks:
            if (part and chunk.part != part) or (case and chunk.case_id != case):
                continue
            if needle in self._tokens[chunk.chunk_id]:
                if audience is None or chunk.audience == audience:
                    return chunk
                best = best or chunk
        return best

    def _quote_sentence(self, chunk: Chunk, passage: str) -> str:
        """The sentence of ``chunk`` that holds ``passage`` (the exact text, for the citation)."""
        needle = " ".join(words(passage))
        for _, sentence in sentences_of(chunk):
            if needle and needle in " ".join(words(sentence)):
                return sentence.strip()
        return passage

    def _item_lines(self, checklist: Checklist, role: str | None, sources: Sources) -> list[str]:
        """The checklist's items for a role, each cited to the chunk that holds it."""
        lines = []
        for item in checklist.for_role(role):
            # Folded sub-items ("Does it have: Clear targets; …") are found by their first part.
            head = item.text.split(";")[0]
            chunk = self._find_chunk(head, checklist.part, audience=item.audience)
            if chunk is not None:
                lines.append(f"- {item.text} [{sources.cite(chunk, self._quote_sentence(chunk, head))}]")
        return lines

    def _checklist_lines(
        self, checklist: Checklist, role: str | None, sources: Sources, name: str | None = None
    ) -> list[str]:
        step_name = (
            name or self.journey.step(checklist.step).label if checklist.step else (name or "Utilise Funding")
        )
        who = ROLE_NAMES.get(role or "", "cluster organisations and policy makers")
        lines = [
            f"{step_name} – step completion checklist for {who}:",
            *self._item_lines(checklist, role, sources),
        ]
        for words_next in checklist.next_words:
            chunk = self._find_chunk(words_next, checklist.part)
            if chunk is not None:
                lines.append(f"{words_next} [{sources.cite(chunk, words_next)}]")
        return lines

    def _checklist_step(self, query: str, route: Route) -> int | None:
        """The step whose checklist is asked for; "before we move on to Step 7" means Step 6's."""
        mentions = self.journey.step_mentions(query)
        own = [m.step for m in mentions if not m.target]
        if own:
            return own[0]
        targets = [m.step for m in mentions if m.target]
        if targets:
            return max(1, targets[0] - 1)
        return route.steps[0] if route.steps else None

    def _step_lines(self, number: int, sources: Sources, sentences: int = 3) -> list[str]:
        """What a step is about: its title and phase, then the opening sentences of its overview."""
        step = self.journey.step(number)
        lines = [f"{step.label} ({self.journey.phase(step.phase).title} phase):"]
        overview = [c for c in self.index.chunks if c.step == number and c.section == "overview"]
        taken = 0
        for chunk in overview:
            for _, sentence in sentences_of(chunk):
                text = sentence.strip()
                if len(text) < 40 or text.endswith(":"):
                    continue
                lines.append(f"{text} [{sources.cite(chunk, text)}]")
                taken += 1
                if taken >= sentences:
                    return lines
        return lines

    def _case_lines(
        self, case_id: str, reading: Reading, ranked: list[Scored], sources: Sources
    ) -> list[str]:
        case = self.cases.get(case_id)
        if case is None:
            return []
        name = f"Case {case.case_id}: {case.title}" if case.case_id != "mentoring" else case.title
        step = self.journey.step(case.step).label if case.step else "Utilise Funding"
        lines = [f"{name} ({step}):"]
        if case.challenge and not reading.wants_lessons:
            challenge = case.challenge.split("\n")[0]
            chunk = self._find_chunk(challenge[:200], case.part, case.case_id)
            if chunk is not None:
                lines.append(f"Challenge: {challenge} [{sources.cite(chunk, challenge)}]")
        if case.description and not reading.wants_lessons:
            chunk = self._find_chunk(case.description[:200], case.part, case.case_id)
            if chunk is not None:
                opening = [_CASE_LABEL.sub("", t).strip() for _, t in sentences_of(chunk)]
                opening = [t for t in opening if len(t) > 30]
                first = " ".join(opening[:2])
                if first:
                    lines.append(f"What was done: {first} [{sources.cite(chunk, first)}]")
        for lesson in case.key_lessons[:4]:
            chunk = self._find_chunk(lesson[:200], case.part, case.case_id)
            if chunk is not None:
                lines.append(f"- {lesson} [{sources.cite(chunk, lesson)}]")
        return lines

    def _proposal(self, outcome: Any, role: str | None, sources: Sources) -> tuple[NextStep, list[str]]:
        part = self.journey.transition_by_id(outcome.transition_id).part
        quote_chunk = self._find_chunk(outcome.quote, part) or self._find_chunk(outcome.quote)
        lines = [f"Next step: {self.journey.step(outcome.step).label}.", outcome.reason]
        if quote_chunk is not None:
            quote = self._quote_sentence(quote_chunk, outcome.quote)
            lines.append(f"The handbook: “{quote}” [{sources.cite(quote_chunk, quote)}]")
        if outcome.checklist and outcome.from_step:
            checklist = self.checklists.get(outcome.from_step)
            if checklist is not None:
                who = ROLE_NAMES.get(role or "", "cluster organisations and policy makers")
                lines.append(f"Checklist of Step {outcome.from_step} for {who}:")
                lines.extend(self._item_lines(checklist, role, sources))
        proposal = NextStep(
            step=outcome.step,
            title=self.journey.step(outcome.step).title,
            reason=outcome.reason,
            quote=outcome.quote,
            kind=outcome.kind,
            from_step=outcome.from_step,
            checklist=list(outcome.checklist),
            transition_id=outcome.transition_id,
            condition=None
            if outcome.kind == "stay"
            else self.journey.transition_by_id(outcome.transition_id).condition,
        )
        return proposal, lines

    def _false_premise(self, query: str) -> str | None:
        """Correct "since Step 1 is Implement Projects …" from the journey model, with a citation."""
        m = self.cues.scope.false_premise.search(query)
        if not m:
            return None
        named = int(m.group(1))
        claimed = self.journey.match_steps(f"the {m.group(2)} step") or self.journey.match_steps(m.group(2))
        if named not in STEP_NUMBERS or not claimed or claimed[0] == named:
            return None
        actual, other = self.journey.step(named), self.journey.step(claimed[0])
        text = f"Correction: in the handbook, Step {named} is {actual.title} and {other.title} is Step {other.number}."
        # The correction comes from the journey model, not from a passage: it is framing, not a citation.
        return text

    def _uncovered(self, reading: Reading, found: Found) -> str | None:
        """Why the handbook does not cover a message, in words a user understands; None when it does.

        Taken on the message itself with its references resolved (``scope_query``), never inherited
        from the conversation. Calibrated on the out-of-scope and in-scope items of the gold and
        held-out sets. A message is outside the handbook when:
        1. it asks for a writing task (an email, a job ad): the handbook advises, it writes nothing;
        2. nothing is even loosely similar (``refusal_floor``);
        3. it names a product, place or organisation the handbook never mentions ("Python", "GDPR",
           "HubSpot"), or asks what a term it never uses means ("What is blockchain?"), and nothing
           is closely similar (``refusal_named_threshold``), unless it asks about the handbook
           itself; or it names one and asks about current or post-2014 facts (the handbook dates
           from 2012);
        4. most of its weight is in words the handbook never uses and the best similarity is very
           low (``refusal_threshold``): only very low, because everyday paraphrases of the
           handbook's advice also use words it never uses; or
        5. it asks about current or post-2014 facts and nothing is closely similar;
        6. it is closer to questions the handbook does not answer than to those it does (the example
           margin, ``scope_margin_threshold``): the rules above each catch one family, the margin
           refuses what they miss.
        """
        rule = self._uncovered_by_rules(reading, found.strength)
        if rule or found.margin is None or "about_the_handbook" in reading.scope_signals:
            return rule
        if self._defines_known_term(reading.scope_query):
            return None  # "What is a matchmaking event?": the handbook uses, and explains, its own terms
        if found.margin.value < self.settings.scope_margin_threshold:
            return TOPIC_WORDS.get(found.margin.nearest_topic, "a topic the handbook does not discuss")
        return None

    def _uncovered_by_rules(self, reading: Reading, strength: float) -> str | None:
        """The refusal rules (1-5 of ``_uncovered``)."""
        s, query, signals = self.settings, reading.scope_query, reading.scope_signals
        names = reading.unknown_names
        if "writing_task" in signals:
            return WRITING_TASK
        if "action_task" in signals:
            return ACTION_TASK
        q_terms = set(terms(query))
        if not q_terms or strength < s.refusal_floor:
            return "a topic the handbook does not discuss"
        time_sensitive = "time_sensitive" in signals
        named_unknown = bool(names) or self._unknown_term(query)
        if strength < s.refusal_named_threshold and "about_the_handbook" not in signals and named_unknown:
            return "something the handbook never mentions"
        # "How did Brexit change … after 2020?": two signs of a topic after the handbook's time.
        if time_sensitive and names:
            return AFTER_THE_HANDBOOK
        unknown_weight = max(self.idf.values(), default=1.0)
        weights = {t: self.idf.get(t, unknown_weight) for t in q_terms}
        unknown = sum(w for t, w in weights.items() if t not in self.idf) / sum(weights.values())
        if strength < s.refusal_threshold and unknown >= s.refusal_unknown_share:
            return "a topic the handbook does not discuss"
        return AFTER_THE_HANDBOOK if time_sensitive and strength < s.refusal_time_threshold else None

    def _defines_known_term(self, query: str) -> bool:
        """A bare definition question ("What is a matchmaking event?") whose every term the handbook uses."""
        m = self.cues.scope.bare_definition.match(query)
        asked = terms(m.group("term")) if m else []
        return bool(asked) and all(t in self.idf for t in asked)

    def _unknown_term(self, query: str) -> bool:
        """A definition question ("What is blockchain?") about a term the handbook never uses."""
        m = self.cues.scope.definition.match(query)
        asked = terms(m.group("term")) if m else []
        return bool(asked) and not any(t in self.idf for t in asked)

    def _refusal(self, ranked: list[Scored], reason: str | None) -> str:
        topics: list[str] = []
        for scored in ranked[:5]:
            topic = scored.chunk.heading_path[0] if scored.chunk.heading_path else scored.chunk.part
            if topic not in topics:
                topics.append(topic)
        nearest = "; ".join(topics[:3]) or "the ten steps of the Internationalisation Journey"
        why = f" (it asks for {reason})" if reason else ""
        return (
            f"The handbook does not cover this question{why}, so I cannot answer it from the handbook. "
            f"The nearest topics it does cover: {nearest}."
        )

    def _citations(self, sources: Sources) -> list[Citation]:
        out = []
        for n, chunk in enumerate(sources.order, start=1):
            quote = " … ".join(sources.quotes.get(chunk.chunk_id, [])) or chunk.text[:200]
            out.append(Citation(n=n, quote=quote, case_title=chunk.case_title, **_locator(chunk)))
        return out

    def _next_state(self, state: ConversationState, reading: Reading, shaped: Shaped) -> ConversationState:
        """The conversation after this answer: its turns, topic, who the user is and where they are."""
        state.history.extend(
            [Turn(role="user", content=reading.message), Turn(role="assistant", content=shaped.text)]
        )
        state.last_question = reading.query
        state.last_intent = reading.intent
        state.choices = list(shaped.choices)  # awaiting a pick on the next message (cleared otherwise)
        route, proposal = reading.route, shaped.proposal
        if route.steps:
            state.last_steps = list(route.steps)
        if route.cases:
            state.last_case = route.cases[0]
        if not shaped.refused:
            state.topic = self._topic(reading, shaped)
        if reading.kept_role in ROLE_NAMES:
            state.role, state.role_source = reading.kept_role, reading.role_source  # type: ignore[assignment]
        if proposal is not None and proposal.from_step:
            state.current_step, state.step_source = proposal.from_step, "inferred"
        elif proposal is None and not reading.message.rstrip().endswith("?"):
            # A statement about the user's situation ("we are building trust with …") places them.
            step, confidence = nextstep.infer_current_step(self.journey, reading.message)
            if step is not None and confidence >= nextstep.CONFIDENT:
                state.current_step = step
                state.step_source = "said" if confidence >= 1.0 else "inferred"
        return state

    def _topic(self, reading: Reading, shaped: Shaped) -> Topic:
        """What this answer was about: from what the message named, else from its first source."""
        route, first = reading.route, shaped.sources.order[0] if shaped.sources.order else None
        case = route.cases[0] if route.cases else None
        if case is None and first is not None and reading.intent == "general":
            case = first.case_id
        steps = list(route.steps) or ([first.step] if first is not None and first.step else [])
        if shaped.proposal is not None:
            steps = [shaped.proposal.step]
        # A named thing the answer's first line is about ("Internationalisation-Not! Line (Grey)").
        first_line = next(iter(shaped.text.splitlines()), "")
        entity = (
            reading.entity
            or self.cues.followup.entity_in(first_line)
            or (("case", f"case {case}") if case else None)
        )
        return Topic(
            question=reading.query,
            steps=steps,
            case=case,
            case_title=self.cases[case].title if case in self.cases else None,
            part=route.parts[0] if route.parts else (first.part if first is not None else None),
            section=first.section if first is not None else None,
            entity=entity[1] if entity else None,
            entity_kind=entity[0] if entity else ("checklist" if reading.intent == "checklist" else None),
        )


def _entity_pattern(entity: tuple[str, str] | None) -> re.Pattern[str] | None:
    """How the handbook writes a Tube Map line a question names: "Line (Dark Blue)" or "Networks Line"."""
    if entity is None or entity[0] != "tube_line":
        return None
    name = r"\s+".join(re.escape(w) for w in entity[1].split()[:-1])
    return re.compile(rf"\(\s*{name}\s*\)|\b{name}\s+line\b", re.I) if name else None


def _document_frequency(chunks: list[Chunk], tokenize: Callable[[str], list[str]]) -> dict[str, int]:
    df: dict[str, int] = {}
    for chunk in chunks:
        for term in set(tokenize(chunk.text)):
            df[term] = df.get(term, 0) + 1
    return df


def _idf(chunks: list[Chunk]) -> dict[str, float]:
    import math

    df = _document_frequency(chunks, lambda text: terms(text))
    n = max(len(chunks), 1)
    return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}


def _locator(c: Chunk) -> dict[str, Any]:
    """Where a chunk is, as both citations and retrieved chunks report it."""
    return {
        "chunk_id": c.chunk_id,
        "part": c.part,
        "step": c.step,
        "section": c.section,
        "case": c.case_id,
        "heading": label(c),
        "page": c.page,
        "line_start": c.line_start,
        "line_end": c.line_end,
        "text": c.text,
    }


def retrieved_chunk(scored: Scored) -> RetrievedChunk:
    """A ranked chunk as answers (and the HTTP search) report it."""
    c = scored.chunk
    return RetrievedChunk(
        audience=c.audience,
        score=round(scored.score, 6),
        **_locator(c),
        dense=None if scored.dense is None else round(scored.dense, 4),
    )


def _renumber(text: str, sources: Sources, used: list[int]) -> tuple[str, Sources, str]:
    """Keep only the sources an LLM answer really cites, numbered 1..n in order of use."""
    from assistant.verify import CITATION_MARK

    fresh = Sources()
    mapping: dict[int, int] = {}
    for old in used:
        chunk = sources.order[old - 1]
        mapping[old] = fresh.cite(chunk, "")
    for old, sentence_quote in _quotes_by_source(text, sources, mapping):
        fresh.cite(sources.order[old - 1], sentence_quote)
    renumbered = CITATION_MARK.sub(lambda m: f"[{mapping.get(int(m.group(1)), int(m.group(1)))}]", text)
    return renumbered, fresh, "llm"


def _quotes_by_source(text: str, sources: Sources, mapping: dict[int, int]) -> Iterator[tuple[int, str]]:
    """For each cited source, the sentence of the chunk that best supports the claim citing it."""
    from assistant.text import overlap
    from assistant.verify import CITATION_MARK, split_claims

    for claim in split_claims(text):
        for n in {int(m) for m in CITATION_MARK.findall(claim)}:
            if n not in mapping:
                continue
            chunk = sources.order[n - 1]
            best = max(sentences_of(chunk), key=lambda ps: overlap(claim, ps[1]), default=(0, chunk.text))
            yield n, best[1].strip()


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)

"""The one object the CLI, the UI and the evaluations call: ``Assistant.ask(question, state)``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from assistant import nextstep
from assistant.compose import Sources, boilerplate, label, render, select_passages, sentences_of
from assistant.followup import rewrite
from assistant.journey import Journey, default_journey_path, load_journey
from assistant.retrieve import Filters, HybridIndex, Route, Scored, Weights
from assistant.route import (
    CASE_SUMMARY,
    CaseInfo,
    Reading,
    case_index,
    name_words,
    names_case_number,
    read_question,
    unknown_names,
    wants_next_step,
)
from assistant.settings import Settings
from assistant.state import Answer, Citation, ConversationState, NextStep, RetrievedChunk, Turn
from assistant.text import terms, words
from assistant.verify import quotable, verify
from ingest.chunk import contextual_text
from ingest.handbook import ROLE_NAMES, STEP_NUMBERS
from ingest.records import Case, Checklist, ChecklistItem, Chunk

MAX_QUESTION = 2000  # longer questions are cut: no passage of the handbook needs more to be found
_FALSE_PREMISE = re.compile(
    r"\b(?:since|as|because|given that|if)\s+step\s*(\d{1,2})\s+(?:is|was|=|means|covers)\s+([^,.;?]+)", re.I
)


_CASE_LABEL = re.compile(
    r"^\s*(Description of case|The challenge to international cluster cooperation|Key lessons learned)\s*"
)


# Questions about the present or about years after the handbook (2012, looking ahead to 2014).
_TIME_SENSITIVE = re.compile(
    r"\b(20(1[5-9]|[2-9]\d))\b|\b(currently|latest|today|tonight|this (week|weekend|month|year)|right now)\b|"
    # "the current rate" asks for today's value; "stay current on funding" does not.
    r"\bcurrent\s+(?!(?:on|with|about|in|of|and|or|to|for)\b)\w",
    re.I,
)
# "Does the handbook …", "in this guide": a question about the handbook's own content is in scope.
_ABOUT_THE_HANDBOOK = re.compile(r"\bhandbook\b|\bthis (?:book|guide)\b", re.I)
# "What is blockchain?", "Explain how X works": the term asked about is the first noun phrase.
_DEFINITION = re.compile(
    r"^\s*(?:what(?:'s| is| are)|who(?:'s| is| are| was)|explain|define|describe)\s+(?:how\s+)?"
    r"(?:an?\s+|the\s+)?(?P<term>[\w-]+(?:\s+[\w-]+)?)",
    re.I,
)


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
        self.case_info: list[CaseInfo] = case_index(
            [(c.case_id, c.title) for c in self.cases.values()],
            common,
            name_words(c.text for c in index.chunks),
            [(c.case_id, c.text) for c in index.chunks],
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
        reading = read_question(query, self.journey, self.case_info, False)
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
        state = ConversationState(role=role, current_step=current_step)  # type: ignore[arg-type]
        for turn in turns:
            if turn.role == "user":
                state = self.ask(turn.content, state).state
        # What the caller says (a UI choice) wins over what the replay inferred.
        return state.model_copy(
            update={"role": role or state.role, "current_step": current_step or state.current_step}
        )

    def stream(
        self, question: str, state: ConversationState | None = None, filters: Filters | None = None
    ) -> Iterator[str | Answer]:
        """Yield answer tokens as an LLM produces them (none without one), then the final ``Answer``."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        state = (state or ConversationState()).model_copy(deep=True)
        raw = (question or "").strip()
        if not terms(raw[:MAX_QUESTION]) and not words(raw[:MAX_QUESTION]):
            text = "Please ask a question about the Cluster Internationalisation Handbook, for example: what does Step 6 involve?"
            yield Answer(question=question, text=text, state=state, intent="empty", timings_ms={"total": 0.0})
            return
        raw = raw[:MAX_QUESTION]
        follow = rewrite(raw, state)
        role = follow.role or state.role
        next_q = wants_next_step(follow.question, self.journey, at_step=state.current_step is not None)
        reading = read_question(follow.question, self.journey, self.case_info, next_q)
        route = reading.route
        if follow.case and not route.cases:
            route = Route(route.steps, (follow.case,), route.funding, route.audience, route.parts)
        if state.scope_case and not route.cases and not route.steps:
            # "Ask about this case": the conversation is about one case until the user names another.
            route = Route(route.steps, (state.scope_case,), route.funding, route.audience, route.parts)
            filters = filters or Filters.of(cases=[state.scope_case])
            if reading.intent == "general" and CASE_SUMMARY.search(reading.query):
                reading = replace(reading, intent="case")
        role = route.audience or role
        timings["read_ms"] = _ms(started)

        t = time.perf_counter()
        ranked, strength, degraded = self.index.search(
            reading.query, self.settings.top_k, filters, route, prior_step=state.current_step
        )
        timings["retrieve_ms"] = _ms(t)

        t = time.perf_counter()
        sources = Sources()
        proposal: NextStep | None = None
        clarification: str | None = None
        intent = reading.intent
        lines: list[str] = []
        correction = self._false_premise(reading.query)
        if correction:
            lines.append(correction)
        refused = False
        if intent == "next_step":
            # Earlier user turns say where the user is and what happened ("our project failed");
            # the question itself often only asks "what now?".
            context = " ".join([t.content for t in state.history if t.role == "user"][-2:] + [reading.query])
            outcome = nextstep.propose_next_step(
                self.journey, self.checklists, context, state.current_step, role, state.checklist_answers
            )
            if isinstance(outcome, nextstep.Clarification):
                clarification = outcome.question
                lines.append(outcome.question)
            elif outcome is not None:
                proposal, proposal_lines = self._proposal(outcome, role, sources)
                lines.extend(proposal_lines)
            else:
                intent = "general"
        if intent == "checklist":
            step = self._checklist_step(reading.query, route) or state.current_step
            if step is None and route.funding and self.funding_checklist:
                lines.extend(self._checklist_lines(self.funding_checklist, role, sources, "Utilise Funding"))
            elif step is None:
                guess, confidence = nextstep.infer_current_step(self.journey, reading.query)
                if guess is not None and confidence >= 0.6:
                    step = guess
                else:
                    clarification = "Which step's checklist do you mean? Tell me the step (1–10) you are on."
                    lines.append(clarification)
            if step is not None and step in self.checklists:
                lines.extend(self._checklist_lines(self.checklists[step], role, sources))
        if intent == "step" and route.steps:
            lines.extend(self._step_lines(route.steps[0], sources))
        if intent == "case" and route.cases:
            lines.extend(self._case_lines(route.cases[0], reading, ranked, sources))
        missing: list[str] = []  # names in the question the handbook never mentions
        if intent == "general" or (intent == "case" and not route.cases):
            missing = unknown_names(reading.query, self.idf)
            # A step, Utilise Funding or a case number is an explicit reference: answer it. A case found
            # by its title words ("a dark office" -> the Liaison Office case) may be a coincidence.
            named = bool(route.steps or route.funding or (route.cases and names_case_number(reading.query)))
            # With the vector store unreachable there is no similarity to judge coverage by: answer.
            out_of_scope = degraded is None and self._out_of_scope(reading.query, strength, missing)
            if not reading.query.strip() or (not named and out_of_scope):
                refused = True
            else:
                passages = select_passages(
                    reading.query, ranked, self.idf, self.settings.answer_sentences, skip=self.boilerplate
                )
                passages = [p for p in passages if quotable(p.text)]  # never quote instructions
                lines.append(render(passages, sources))
        timings["compose_ms"] = _ms(t)

        text = "\n".join(x for x in lines if x)
        notice: str | None = degraded
        backend = "none"
        if self.chat_model is not None and not refused and intent in ("general", "case", "step") and ranked:
            from assistant.llm import LLMFailure, generate

            t = time.perf_counter()
            try:
                llm_sources = Sources()
                for scored in ranked[:5]:
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
                    if checked.removed:
                        notice = f"{len(checked.removed)} unsupported sentence(s) were removed from the model's answer."
                else:
                    notice = "The language model's answer could not be verified against the handbook; showing the extractive answer."
            except LLMFailure as exc:
                notice = f"The language model is unavailable ({exc}); showing the extractive answer."
            timings["llm_ms"] = _ms(t)

        t = time.perf_counter()
        given = {i: contextual_text(c) for i, c in enumerate(sources.order, start=1)}
        final = verify(text, given, self.settings.support_threshold, allow_uncited=backend == "none")
        timings["verify_ms"] = _ms(t)
        flagged = final.removed
        text = final.text
        if not refused and not text.strip() and not clarification:
            refused = True
        if refused:
            text = self._refusal(ranked)
            sources = Sources()
        citations = self._citations(sources)
        if intent in ("checklist", "case", "next_step", "step"):
            # The chunks an answer shape was built from were found by metadata: they lead the ranking.
            shaped = [Scored(c, ranked[0].score + 1.0 if ranked else 1.0) for c in sources.order]
            ids = {c.chunk_id for c in sources.order}
            ranked = (shaped + [r for r in ranked if r.chunk.chunk_id not in ids])[
                : max(self.settings.top_k, len(shaped))
            ]
        if intent == "general" and not refused and missing:
            uncovered = (
                f"The handbook never mentions {', '.join(missing)}: "
                "this answer is what it says about the rest of the question."
            )
            notice = f"{notice} {uncovered}" if notice else uncovered
        state = self._next_state(state, reading, follow.question, raw, text, role, route, proposal)
        timings["total_ms"] = _ms(started)
        yield Answer(
            question=question,
            text=text,
            citations=citations,
            retrieved=[_retrieved(s) for s in ranked],
            refused=refused,
            next_step=proposal,
            clarification=clarification,
            intent=intent,
            notice=notice,
            backend=backend,
            rewritten_question=follow.question if follow.followup else None,
            flagged_sentences=flagged,
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
        m = _FALSE_PREMISE.search(query)
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

    def _out_of_scope(self, query: str, strength: float, names: list[str]) -> bool:
        """Weak evidence: refuse rather than answer from unrelated passages.

        ``names``: what the question names that the handbook never mentions (``unknown_names``).
        Calibrated on the out-of-scope and in-scope items of the gold and held-out sets. A question
        is outside the handbook when:
        1. nothing is even loosely similar (``refusal_floor``);
        2. it names a product, place or organisation the handbook never mentions ("Python", "GDPR",
           "HubSpot"), or asks what a term it never uses means ("What is blockchain?"), and nothing
           is closely similar (``refusal_named_threshold``), unless it asks about the handbook
           itself ("is there a Spanish body in the handbook's links?"); or it names one and asks
           about current or post-2014 facts (the handbook dates from 2012);
        3. most of its weight is in words the handbook never uses and the best similarity is very
           low (``refusal_threshold``): only very low, because everyday paraphrases of the
           handbook's advice also use words it never uses; or
        4. it asks about current or post-2014 facts (the handbook dates from 2012) and nothing is
           closely similar.
        """
        s = self.settings
        q_terms = set(terms(query))
        if not q_terms or strength < s.refusal_floor:
            return True
        about_the_handbook = _ABOUT_THE_HANDBOOK.search(query) is not None
        if (
            strength < s.refusal_named_threshold
            and not about_the_handbook
            and (names or self._unknown_term(query))
        ):
            return True
        time_sensitive = _TIME_SENSITIVE.search(query) is not None
        # "How did Brexit change … after 2020?": two signs of a topic after the handbook's time.
        if time_sensitive and names:
            return True
        unknown_weight = max(self.idf.values(), default=1.0)
        weights = {t: self.idf.get(t, unknown_weight) for t in q_terms}
        unknown = sum(w for t, w in weights.items() if t not in self.idf) / sum(weights.values())
        if strength < s.refusal_threshold and unknown >= s.refusal_unknown_share:
            return True
        return time_sensitive and strength < s.refusal_time_threshold

    def _unknown_term(self, query: str) -> bool:
        """A definition question ("What is blockchain?") about a term the handbook never uses."""
        m = _DEFINITION.match(query)
        asked = terms(m.group("term")) if m else []
        return bool(asked) and not any(t in self.idf for t in asked)

    def _refusal(self, ranked: list[Scored]) -> str:
        topics: list[str] = []
        for scored in ranked[:5]:
            topic = scored.chunk.heading_path[0] if scored.chunk.heading_path else scored.chunk.part
            if topic not in topics:
                topics.append(topic)
        nearest = "; ".join(topics[:3]) or "the ten steps of the Internationalisation Journey"
        return (
            "The handbook does not cover this question, so I cannot answer it from the handbook. "
            f"The nearest topics it does cover: {nearest}."
        )

    def _citations(self, sources: Sources) -> list[Citation]:
        out = []
        for n, chunk in enumerate(sources.order, start=1):
            quote = " … ".join(sources.quotes.get(chunk.chunk_id, [])) or chunk.text[:200]
            out.append(Citation(n=n, quote=quote, case_title=chunk.case_title, **_locator(chunk)))
        return out

    def _next_state(
        self,
        state: ConversationState,
        reading: Reading,
        standalone: str,
        raw: str,
        text: str,
        role: str | None,
        route: Route,
        proposal: NextStep | None,
    ) -> ConversationState:
        state.history.extend([Turn(role="user", content=raw), Turn(role="assistant", content=text)])
        state.last_question = standalone
        state.last_intent = reading.intent
        if route.steps:
            state.last_steps = list(route.steps)
        if route.cases:
            state.last_case = route.cases[0]
        if role in ROLE_NAMES and state.role is None:
            state.role = role  # type: ignore[assignment]
        if proposal is not None and proposal.from_step:
            state.current_step = proposal.from_step
        elif proposal is None and not raw.rstrip().endswith("?"):
            # A statement about the user's situation ("we are building trust with …") places them.
            step, confidence = nextstep.infer_current_step(self.journey, raw)
            if step is not None and confidence >= nextstep.CONFIDENT:
                state.current_step = step
        return state


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


def _retrieved(scored: Scored) -> RetrievedChunk:
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

"""Journey: the ten steps by phase with Utilise Funding alongside, the graph, summaries and checklists."""

from __future__ import annotations

import streamlit as st

from assistant.assistant import Assistant
from assistant.compose import label, sentences_of
from assistant.nextstep import Clarification, propose_next_step
from assistant.state import Citation, NextStep
from ingest.records import Checklist, Chunk
from ui import state
from ui.components import PHASE_BADGES, escape, journey_dot, render_next_step, render_source_line

SUMMARY_SENTENCES = 2


def summary(assistant: Assistant, part: str) -> tuple[str, list[Citation]]:
    """The first sentences of a part's overview, cited to the chunk they come from."""
    overview: list[Chunk] = [c for c in assistant.index.chunks if c.part == part and c.section == "overview"]
    if not overview:
        return "", []
    chunk = min(overview, key=lambda c: (c.page or 0, c.line_start))
    quote = " ".join(s.strip() for _, s in sentences_of(chunk)[:SUMMARY_SENTENCES])
    citation = Citation(
        n=1, chunk_id=chunk.chunk_id, quote=quote, part=chunk.part, step=chunk.step, section=chunk.section,
        heading=label(chunk), page=chunk.page, line_start=chunk.line_start, line_end=chunk.line_end,
        text=chunk.text,
    )  # fmt: skip
    return f"{quote} [1]", [citation]


def checkbox_key(step: int, index: int) -> str:
    """Session key of one checklist checkbox (by the item's place in the whole checklist)."""
    return f"{state.CHECKBOX_PREFIX}{step}-{index}"


def checklist_boxes(step: int, checklist: Checklist) -> None:
    """The step's checklist for the chosen role as checkboxes (ticks are kept for the whole session)."""
    marks = state.ticked().setdefault(step, {})
    shown = checklist.for_role(state.role())
    for index, item in enumerate(checklist.items):
        if item in shown:
            # ``value`` seeds a checkbox drawn anew (after a page change or a loaded file); the tick the
            # browser sent is read back on every run, so the session's record always matches the screen.
            key = checkbox_key(step, index)
            marks[index] = st.checkbox(escape(item.text), value=marks.get(index, False), key=key)


def complete_step(assistant: Assistant, step: int) -> None:
    """Ask for the next step of a completed step (from its ticked checklist) and keep the proposal."""
    answers = state.checklist_answers(step)
    outcome = propose_next_step(
        assistant.journey,
        assistant.checklists,
        "We have completed the checklist",
        current_step=step,
        role=state.role(),
        checklist_answers={step: answers},
    )
    if outcome is None or isinstance(outcome, Clarification):
        state.proposals()[step] = None
        return
    state.proposals()[step] = NextStep(
        step=outcome.step, title=outcome.title, reason=outcome.reason, quote=outcome.quote, kind=outcome.kind,
        from_step=outcome.from_step, checklist=list(outcome.checklist), transition_id=outcome.transition_id,
    )  # fmt: skip


def go_to(step: int) -> None:
    """Make a step the current one (a button callback: it runs before the sidebar is drawn)."""
    state.set_sidebar(state.role(), step)


def step_panel(assistant: Assistant, number: int) -> None:
    """One step: summary with its source, the checklist, "Step complete" and the proposal."""
    text, citations = summary(assistant, f"step-{number}")
    if text:
        st.markdown(escape(text))
        render_source_line(citations[0], f"passage-{number}")  # expanders cannot nest in the step's expander
    checklist = assistant.checklists.get(number)
    if checklist is None:
        st.caption("The handbook gives no checklist for this step.")
        return
    role = state.role()
    who = state.ROLE_LABELS[role].lower() if role else "all roles"
    st.markdown(f"**Step completion checklist** ({escape(who)})")
    checklist_boxes(number, checklist)
    if st.button("Step complete", key=f"complete-{number}", type="primary"):
        complete_step(assistant, number)
    if number in state.proposals():
        proposal = state.proposals()[number]
        if proposal is None:
            st.warning("The handbook names no next step here; ask in the chat.")
            return
        render_next_step(proposal, assistant.journey)
        if proposal.step != state.current_step():
            st.button(
                f"Make Step {proposal.step} my current step",
                key=f"go-{number}",
                on_click=go_to,
                args=(proposal.step,),
            )


def funding_panel(assistant: Assistant) -> None:
    """Utilise Funding, the theme alongside every step: summary and checklist (it is never completed)."""
    theme = assistant.journey.theme
    with st.container(border=True):
        st.subheader(escape(theme.title))
        st.caption("Alongside every step of the journey")
        text, citations = summary(assistant, theme.part)
        if text:
            st.markdown(escape(text))
            render_source_line(citations[0], "passage-funding")
        checklist = assistant.funding_checklist
        if checklist is not None:
            st.markdown("**Checklist**")
            st.markdown("\n".join(f"- {escape(i.text)}" for i in checklist.for_role(state.role())))
        st.markdown(f"> {escape(theme.quote)}")


def progress_files() -> None:
    """Download this session's progress as JSON, or load a saved file."""
    left, right = st.columns(2)
    with left:
        st.download_button(
            "Download progress (JSON)",
            data=state.progress_json(),
            file_name="handbook-progress.json",
            mime="application/json",
            on_click="ignore",
            key="download-progress",
        )
    with right:

        def loaded() -> None:
            upload = st.session_state.get("upload-progress")
            if upload is None:
                return
            try:
                state.load_progress(state.parse_progress(upload.getvalue()))
                st.session_state["progress-message"] = ("ok", f"Progress loaded from {upload.name}.")
            except ValueError as exc:
                st.session_state["progress-message"] = ("error", f"{upload.name}: {exc}")

        st.file_uploader("Load progress", type=["json"], key="upload-progress", on_change=loaded)
    kind, message = st.session_state.pop("progress-message", (None, None))
    if kind == "ok":
        st.success(escape(message))
    elif kind == "error":
        st.error(escape(message))


def render() -> None:
    """The Journey page."""
    assistant = state.get_assistant()
    journey = assistant.journey
    current = state.current_step()
    st.title("The Internationalisation Journey")
    where = (
        f"You are at {journey.step(current).label}."
        if current
        else "Choose your current step in the sidebar."
    )
    st.caption(escape(where) + " Solid arrows: the next step once its checklist is met; dashed: loops back.")
    with st.container(horizontal=True):
        for phase, colour in zip(journey.phases, PHASE_BADGES, strict=False):
            st.badge(escape(phase.title), color=colour)
        st.badge(escape(f"{journey.theme.title}: alongside every step"), color="gray", icon=":material/euro:")
    st.graphviz_chart(journey_dot(journey, current), width="stretch")
    progress_files()
    steps, funding = st.columns([2.3, 1], gap="large")
    with steps:
        for phase in journey.phases:
            st.subheader(escape(phase.title))
            st.caption(escape(phase.quote))
            for step in (s for s in journey.steps if s.phase == phase.id):
                here = step.number == current
                title = step.label + (" — current step" if here else "")
                with st.expander(
                    escape(title), expanded=here, icon=":material/my_location:" if here else None
                ):
                    step_panel(assistant, step.number)
    with funding:
        funding_panel(assistant)


render()

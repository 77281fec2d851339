"""Case studies: every case as a card, with hybrid search and filters by step, country or region, and theme.

Countries/regions and themes are derived from each case's own text by keyword matching (see
``PLACES`` and ``THEMES``): they are a reading aid for trainers, not metadata of the handbook.
"""

from __future__ import annotations

import re

import streamlit as st

from assistant.assistant import Assistant
from assistant.retrieve import Filters
from ingest.records import Case
from ui import state
from ui.components import render_case, step_name

# Countries and regions the handbook's case studies mention, with the words that name them.
PLACES: dict[str, str] = {
    "Austria": r"austria",
    "Belgium": r"belgi(?:um|an)",
    "Canada": r"canad(?:a|ian)",
    "Denmark": r"denmark|danish",
    "Finland": r"finland|finnish",
    "France": r"france|french",
    "Germany": r"germany|german",
    "Greece": r"greece|greek",
    "Hungary": r"hungary|hungarian",
    "India": r"india|indian",
    "Italy": r"italy|italian",
    "Japan": r"japan|japanese",
    "Korea": r"korea|korean",
    "Luxembourg": r"luxembourg",
    "Slovenia": r"slovenia|slovenian",
    "Spain": r"spain|spanish",
    "Sweden": r"sweden|swedish",
    "Switzerland": r"switzerland|swiss",
    "United States": r"usa|united states|silicon valley|boston",
    "Asia": r"asia|asian",
    "Baltic Sea Region": r"baltic",
    "Mediterranean": r"mediterranean|euromed|med clusters",
    "Outside Europe": r"outside (?:of )?europe|non-eu|third countr(?:y|ies)",
}
# Themes by keyword (a case can have several).
THEMES: dict[str, str] = {
    "Matchmaking": (
        r"match-?making|matchmaker|partner search|brokerage|b2b|find(?:ing)? (?:adequate |relevant )?partners"
    ),
    "Funding": r"fund(?:s|ing|ed)?|grant|financ\w*|call for proposals|innovation express",
    "Trust building": r"trust",
    "Networks": r"network\w*",
    "Training & mentoring": r"train\w*|mentor\w*|coach\w*|staff exchange",
    "Infrastructure": r"test-?beds?|infrastructure|facilit(?:y|ies)|laborator\w*|liaison office|premises",
}
SEARCH_DEPTH = 30


def case_text(case: Case) -> str:
    """All the words of a case, for keyword matching."""
    return " ".join([case.title, case.challenge, case.description, " ".join(case.key_lessons), case.contact])


def tags(case: Case, patterns: dict[str, str]) -> list[str]:
    """The names whose pattern occurs (as whole words, ignoring case) in the case's text."""
    text = case_text(case)
    return [name for name, pattern in patterns.items() if re.search(rf"\b(?:{pattern})\b", text, re.I)]


def search(assistant: Assistant, query: str) -> list[str]:
    """Case ids for a query, best first (hybrid search over the case-study chunks only)."""
    ranked = assistant.retrieve(query, k=SEARCH_DEPTH, filters=Filters.of(sections=["practical-examples"]))
    return list(dict.fromkeys(s.chunk.case_id for s in ranked if s.chunk.case_id))


def ask_about(case_id: str) -> None:
    """Open the chat with its questions scoped to this case."""
    state.scope_to_case(case_id)
    st.switch_page("views/chat.py")


def _case_order(case: Case) -> tuple[int, int, str]:
    digits = "".join(ch for ch in case.case_id if ch.isdigit())
    return (case.step or 99, int(digits) if digits else 0, case.case_id)


def render() -> None:
    """The Case studies page."""
    assistant = state.get_assistant()
    st.title("Case studies")
    st.caption(
        "Every case study of the handbook. Countries/regions and themes are derived from each case's text "
        "by keywords, as a guide."
    )
    cases = sorted(assistant.cases.values(), key=_case_order)
    places = {c.case_id: tags(c, PLACES) for c in cases}
    themes = {c.case_id: tags(c, THEMES) for c in cases}
    query = st.text_input(
        "Search the cases", key="case-search", placeholder="e.g. matchmaking events with Canada"
    )
    left, middle, right = st.columns(3)
    steps = sorted({c.step for c in cases}, key=lambda s: (s is None, s or 0))
    chosen_steps = left.multiselect(
        "Step", steps, format_func=lambda s: step_name(s, assistant.journey), key="case-steps"
    )
    chosen_places = middle.multiselect(
        "Country or region", [p for p in PLACES if any(p in v for v in places.values())], key="case-places"
    )
    chosen_themes = right.multiselect("Theme", list(THEMES), key="case-themes")

    if query.strip():
        order = search(assistant, query)
        by_id = {c.case_id: c for c in cases}
        cases = [by_id[i] for i in order if i in by_id]
    shown = [
        c
        for c in cases
        if (not chosen_steps or c.step in chosen_steps)
        and (not chosen_places or set(chosen_places) & set(places[c.case_id]))
        and (not chosen_themes or set(chosen_themes) & set(themes[c.case_id]))
    ]
    st.caption(
        f"Showing {len(shown)} of {len(assistant.cases)} cases" + (" (best match first)" if query else "")
    )
    for case in shown:
        with st.container(border=True):
            render_case(case, assistant.journey, places[case.case_id] + themes[case.case_id])
            if st.button("Ask about this case", key=f"ask-case-{case.case_id}", icon=":material/forum:"):
                ask_about(case.case_id)


render()

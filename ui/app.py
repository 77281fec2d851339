"""The TACTICS Handbook Assistant app: ``streamlit run ui/app.py`` (or ``handbook app``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# `streamlit run ui/app.py` puts ui/ on sys.path, not the repository: make the packages importable
# even without an editable install.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
for name, value in (
    ("HF_HUB_OFFLINE", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
    ("ANONYMIZED_TELEMETRY", "False"),
):
    os.environ.setdefault(name, value)  # the app never downloads anything and sends no telemetry

import streamlit as st  # noqa: E402

from assistant.state import STEP_NUMBERS  # noqa: E402
from ui import state  # noqa: E402
from ui.components import guarded  # noqa: E402

PAGES = ROOT / "ui" / "views"

st.set_page_config(page_title="TACTICS Handbook Assistant", page_icon=":material/explore:", layout="wide")


def sidebar() -> None:
    """Role and current step: they feed every question and the Journey page."""
    state.apply_pending_sidebar()
    with st.sidebar:
        st.selectbox(
            "Your role",
            list(state.ROLE_LABELS),
            format_func=state.ROLE_LABELS.__getitem__,
            key=state.ROLE_KEY,
        )
        st.selectbox(
            "Current step",
            [state.NO_STEP, *STEP_NUMBERS],
            format_func=lambda n: f"Step {n}" if n else "None",
            key=state.STEP_KEY,
        )
        note = state.inferred_note()
        if note:
            st.caption(note)


pages = [
    st.Page(PAGES / "chat.py", title="Chat", icon=":material/forum:", default=True),
    st.Page(PAGES / "journey.py", title="Journey", icon=":material/route:"),
    st.Page(PAGES / "cases.py", title="Case studies", icon=":material/menu_book:"),
    st.Page(PAGES / "evaluation.py", title="Evaluation", icon=":material/monitoring:"),
    st.Page(PAGES / "index.py", title="Index", icon=":material/database:"),
]
page = st.navigation(pages)
sidebar()
# The first run builds the index here (with a progress bar) before any page needs it; the Index
# page still opens when the assistant cannot load, since that is where the index is rebuilt.
ready = guarded(state.get_assistant, "Loading the assistant")
if ready or page.title == "Index":
    guarded(page.run, page.title)

"""Index: what is indexed, the models and the store; add documents or rebuild, with the ingest summary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from assistant.settings import Settings
from ingest.pipeline import IngestSummary, run_ingest
from ingest.records import PARTS
from ui import state
from ui.components import escape

DOCUMENT_TYPES = ["pdf", "txt", "md"]
SUMMARY_KEY = "ingest-summary"


def overview(settings: Settings) -> None:
    """Documents, chunks per part, cases, the embedding model, the store and the LLM backend."""
    try:
        store = settings.open_store()
        assistant = state.get_assistant()
    except Exception as exc:  # the page must still open, to rebuild a broken index
        st.warning(f"The assistant could not load: {escape(str(exc))}")
        return
    chunks = assistant.index.chunks
    structure = store.structure()
    docs = Counter(c.doc_id for c in chunks)
    a, b, c, d = st.columns(4)
    a.metric("Chunks", len(chunks))
    b.metric("Documents", len(docs))
    c.metric("Case studies", len(assistant.cases))
    d.metric("Checklists", len(assistant.checklists) + (assistant.funding_checklist is not None))
    st.markdown(
        f"**Embedding model:** {escape(str(store.embedding_model() or settings.embedding_model))}  \n"
        f"**Chroma:** {escape(str(store.location))}  \n"
        f"**LLM backend:** {escape(settings.llm)}"
        + (f" at {escape(settings.llm_base_url)}" if settings.llm_base_url else "")
    )
    left, right = st.columns(2)
    with left:
        st.subheader("Documents")
        st.dataframe(
            pd.DataFrame(
                [
                    {"document": doc, "chunks": n, "source": structure.get(doc, {}).get("source", "")}
                    for doc, n in sorted(docs.items())
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    with right:
        st.subheader("Chunks per part")
        parts = Counter(c.part for c in chunks)
        frame = pd.DataFrame({"part": list(parts), "chunks": list(parts.values())})
        order = [p for p in PARTS if p in parts]  # the handbook's reading order
        bars = (
            alt.Chart(frame)
            .mark_bar()
            .encode(x=alt.X("part:N", sort=order), y="chunks:Q", tooltip=["part", "chunks"])
        )
        st.altair_chart(bars, width="stretch")


def ingest(paths: list[Path], rebuild: bool = False) -> IngestSummary:
    """Run the ingest with a progress bar, then reload the shared assistant so every session sees it."""
    settings = state.settings()
    bar = st.progress(0.0, text="Reading…")
    summary = run_ingest(
        paths, settings.open_store(), settings.embedder(), settings.chunk_size, settings.chunk_overlap,
        rebuild=rebuild, progress=state.progress_callback(bar),
    )  # fmt: skip
    bar.empty()
    if summary.written:
        state.load_assistant.clear()
    return summary


def finish(summary: IngestSummary) -> None:
    """Draw the page again, so the overview shows the new index, with the summary under it."""
    st.session_state[SUMMARY_KEY] = summary
    st.rerun()


def show_summary(summary: IngestSummary) -> None:
    """The ingest summary, and one error line per file that failed."""
    (st.success if summary.ok else st.warning)(escape(summary.line()))
    for error in summary.errors:
        st.error(escape(error))
    for warning in summary.warnings:
        st.warning(escape(warning))


def save_uploads(folder: Path, uploads: list) -> list[Path]:
    """Write uploaded files into the documents folder (by their bare name) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for upload in uploads:
        target = folder / Path(upload.name).name
        target.write_bytes(upload.getvalue())
        saved.append(target)
    return saved


def add_documents() -> None:
    """Upload PDFs, text or Markdown into the documents folder and index them."""
    settings = state.settings()
    st.subheader("Add documents")
    st.caption(f"Files are kept in {escape(str(settings.user_documents_dir))} and indexed with the handbook.")
    uploads = st.file_uploader(
        "PDF, text or Markdown files", type=DOCUMENT_TYPES, accept_multiple_files=True, key="uploads"
    )
    if st.button("Add to the index", disabled=not uploads, key="add-documents") and uploads:
        saved = save_uploads(settings.user_documents_dir, list(uploads))
        summary = ingest(saved)
        # A file that failed is removed again, so that it does not fail every later ingest.
        for path in saved:
            if any(str(path) in error or path.name in error for error in summary.errors):
                path.unlink(missing_ok=True)
        finish(summary)


def rebuild() -> None:
    """Re-read and re-embed everything (the handbook and the documents folder)."""
    st.subheader("Rebuild")
    st.caption("Re-reads and re-embeds the handbook and your documents; this takes a minute or two.")
    if st.button("Rebuild the index", key="rebuild"):
        finish(ingest(state.settings().default_sources(), rebuild=True))


def render() -> None:
    """The Index page."""
    st.title("Index")
    overview(state.settings())
    st.divider()
    summary = st.session_state.pop(SUMMARY_KEY, None)
    if summary is not None:
        show_summary(summary)
    add, again = st.columns(2, gap="large")
    with add:
        add_documents()
    with again:
        rebuild()


render()

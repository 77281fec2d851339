"""Chat: questions answered from the handbook with numbered citations, sources, next steps and feedback."""

from __future__ import annotations

from collections.abc import Iterator

import streamlit as st

from assistant.state import Answer
from ui import state
from ui.components import conversation_markdown, escape, render_answer


def ask(question: str) -> Answer:
    """Answer a question; with an LLM the tokens stream in first, then the verified answer replaces them."""
    assistant = state.get_assistant()
    events = assistant.stream(question, state.state_for_question())
    final: list[Answer] = []

    def tokens() -> Iterator[str]:
        for event in events:
            if isinstance(event, Answer):
                final.append(event)
            else:
                yield escape(event)

    if assistant.chat_model is None:
        for _ in tokens():
            pass
    else:
        live = st.empty()
        with live.container():
            st.write_stream(tokens())
        live.empty()  # the streamed draft is replaced by the verified answer with its sources
    return final[-1]


def feedback(exchange: state.Exchange) -> None:
    """Thumbs up/down and an optional comment under an answer."""
    with st.container(horizontal=True, vertical_alignment="center"):
        # Read back on every run (no callback): a failure to save then stays inside the page's guard.
        rating = st.feedback("thumbs", key=f"rating-{exchange.uid}", default=exchange.rating)
        if rating != exchange.rating:
            state.rate(exchange, rating)
        comment = st.popover("Comment", icon=":material/comment:", key=f"comment-popover-{exchange.uid}")
    with comment:
        with st.form(key=f"comment-form-{exchange.uid}", border=False):
            text = st.text_area(
                "Your comment (optional)", value=exchange.comment, key=f"comment-{exchange.uid}"
            )
            if st.form_submit_button("Send comment"):
                state.add_comment(exchange, text)
        if exchange.comment:
            st.caption("Comment saved. Thank you!")


def show(exchange: state.Exchange, last: bool = False) -> None:
    """One question and its answer, as chat messages."""
    with st.chat_message("user"):
        st.markdown(escape(exchange.question))
    with st.chat_message("assistant"):
        render_answer(exchange.answer, state.get_assistant().journey)
        if last:
            quick_replies(exchange)
        feedback(exchange)


def quick_replies(exchange: state.Exchange) -> None:
    """The conditions the last answer offers, as buttons: a click sends that choice as the reply."""
    if not exchange.answer.choices:
        return
    with st.container(horizontal=True):
        for n, choice in enumerate(exchange.answer.choices, start=1):
            if st.button(f"{choice.label} (Step {choice.step})", key=f"choice-{exchange.uid}-{n}"):
                st.session_state["quick_reply"] = choice.label


def sidebar_tools(exchanges: list[state.Exchange]) -> None:
    """Export the conversation as Markdown, or clear it."""
    with st.sidebar:
        st.divider()
        st.download_button(
            "Export conversation (Markdown)",
            data=conversation_markdown((e.question, e.answer) for e in exchanges),
            file_name="handbook-conversation.md",
            mime="text/markdown",
            disabled=not exchanges,
            on_click="ignore",
            key="export-conversation",
        )
        st.button(
            "Clear conversation",
            on_click=state.clear_conversation,
            disabled=not exchanges,
            key="clear-conversation",
        )


def scope_banner() -> None:
    """Say which case the questions are about, with a way back to the whole handbook."""
    case_id = state.conversation().scope_case
    if not case_id:
        return
    case = state.get_assistant().cases.get(case_id)
    name = f"Case {case_id}: {case.title}" if case else f"Case {case_id}"
    st.info(f"Questions are about {escape(name)} unless they name another step or case.")
    st.button("Ask about the whole handbook", on_click=state.scope_to_case, args=(None,), key="unscope")


def render() -> None:
    """The Chat page."""
    st.title("Ask the Cluster Internationalisation Handbook")
    st.caption(
        "Answers come from the TACTICS handbook only, with numbered sources. "
        "Set your role and current step in the sidebar."
    )
    exchanges = state.exchanges()
    sidebar_tools(exchanges)
    scope_banner()
    for i, exchange in enumerate(exchanges):
        show(exchange, last=i == len(exchanges) - 1)
    question = st.chat_input(
        "Ask about the handbook, e.g. What does Step 6 involve?", max_chars=2000, key="ask"
    )
    question = question or st.session_state.pop("quick_reply", None)  # a quick-reply button's choice
    if not question:
        return
    asked_role, asked_step = state.role(), state.current_step()
    with st.chat_message("user"):
        st.markdown(escape(str(question)))
    with st.chat_message("assistant"):
        answer = ask(str(question))
    exchanges.append(state.Exchange(str(question), answer, asked_role, asked_step))
    state.set_conversation(answer.state)
    # Show the new answer through the same path as the history, and let the sidebar follow what
    # the conversation established (a role named in the question, the step the user is at).
    state.request_sidebar(answer.state.role, answer.state.current_step)
    st.rerun()


render()

"""Picking answer sentences, without a model: what kind of answer a question asks for."""

from __future__ import annotations

import pytest

from assistant.compose import answer_type


@pytest.mark.parametrize(
    ("question", "answer", "other"),
    [
        ("How long do the projects last?", "the duration is about 9 months.", "long-term co-operations"),
        ("How long does trust take?", "it often requires more than nine months", "trust matters"),
        ("How much funding does a project get?", "The funding volume is about EUR 30.000.", "funding helps"),
        ("How many ambassadors are there?", "there are 12 representatives", "ambassadors help"),
        ("When was the call launched?", "launched in February 2009", "the call was launched"),
    ],
)
def test_answer_types_recognise_the_sentence_that_answers(question: str, answer: str, other: str) -> None:
    wanted = answer_type(question)
    assert wanted is not None
    assert wanted.search(answer)
    assert not wanted.search(other)


def test_questions_without_an_answer_type() -> None:
    assert answer_type("What is a matchmaking event?") is None
    assert answer_type("Why should we internationalise?") is None


def test_a_bullet_with_sub_items_is_quoted_with_them_and_rendered_nested() -> None:
    """ "What are the benefits to policy makers?" is answered by the list, not by its bare heading."""
    from assistant.compose import Sources, render, select_passages
    from assistant.retrieve import Scored
    from assistant.verify import verify
    from ingest.records import Chunk

    text = (
        "• Benefits to the cluster organisation\n- Raised profile\n- Access to new partners\n"
        "• Benefits to policy makers\n- Improved ability to benchmark performance\n"
        "- Improved return in investment in cluster development programmes\n"
        "Policy makers can also support networks."
    )
    chunk = Chunk("doc", text, "step-1", "overview", ("Step 1. Why?", "Overview"), 1, 7, step=1)
    passages = select_passages("What are the benefits to policy makers?", [Scored(chunk, 1.0)], {}, limit=1)
    sources = Sources()
    answer = render(passages, sources)
    assert answer == (
        "- Benefits to policy makers\n"
        "  - Improved ability to benchmark performance\n"
        "  - Improved return in investment in cluster development programmes [1]"
    )
    # Verification keeps the nesting of what it keeps.
    assert verify(answer, sources.texts(), 0.5, allow_uncited=True).text == answer

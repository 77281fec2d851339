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

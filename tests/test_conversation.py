"""Conversations: every message read in the light of the whole conversation (the real index, no LLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.state import Answer, ConversationState

pytestmark = pytest.mark.slow


def talk(assistant, *messages: str) -> list[Answer]:  # type: ignore[no-untyped-def]
    """Ask the messages in order in one conversation; the answers in order."""
    state, answers = ConversationState(), []
    for message in messages:
        answer = assistant.ask(message, state)
        state = answer.state
        answers.append(answer)
    return answers


def test_a_newcomer_is_sent_to_step_1_with_the_journey(assistant) -> None:  # type: ignore[no-untyped-def]
    (first,) = talk(
        assistant, "We are a small food cluster in Portugal. Where do we begin with going international?"
    )
    assert first.next_step is not None and first.next_step.step == 1 and first.next_step.kind == "start"
    assert "Step 1 – Why?" in first.text and "1. Why? → 2. Assess Readiness" in first.text
    assert "The Journey starts with an inward looking" in first.citations[0].quote
    _, start = talk(assistant, "We are a cluster in Lyon.", "Where do we start?")
    assert start.next_step is not None and start.next_step.step == 1


def test_that_stage_points_at_the_step_just_proposed(assistant) -> None:  # type: ignore[no-untyped-def]
    _, _, stage = talk(
        assistant,
        "We are a cluster in Lyon.",
        "Where do we start?",
        "And what should policy makers in our region do at that stage?",
    )
    assert not stage.refused
    assert {c.step for c in stage.citations} == {1}, [c.heading for c in stage.citations]


def test_it_and_they_resolve_to_the_case_just_discussed(assistant) -> None:  # type: ignore[no-untyped-def]
    case, paid, learned = talk(
        assistant,
        "Tell me about the Greek cluster liaison office in Silicon Valley.",
        "Who paid for it?",
        "What did they learn from it?",
    )
    assert case.citations[0].case == "17"
    assert not paid.refused and paid.citations[0].case == "17"
    assert not learned.refused and {c.case for c in learned.citations} == {"17"}
    assert "Go-No Go decisions" in learned.text  # one of the case's key lessons


def test_a_situation_told_earlier_places_a_later_what_now(assistant) -> None:  # type: ignore[no-untyped-def]
    told, now = talk(
        assistant,
        "We're in the middle of delivering a joint project with an Austrian cluster.",
        "It's gone badly wrong and won't recover. What now?",
    )
    assert told.state.current_step == 8 and told.state.step_source == "inferred"
    assert now.next_step is not None and (now.next_step.step, now.next_step.from_step) == (6, 8)
    assert now.next_step.transition_id == "step8-project-unsuccessful" and now.clarification is None


def test_the_red_one_is_the_red_tube_map_line(assistant) -> None:  # type: ignore[no-untyped-def]
    blue, red = talk(assistant, "What does the dark blue line on the Tube Map show?", "And the red one?")
    assert "Testing & Trials Line (Dark Blue)" in blue.text.splitlines()[0]
    assert not red.refused and "Circle Line (Red)" in red.text.splitlines()[0]
    assert red.rewritten_question == "What does the red line on the Tube Map show?"


def test_an_off_topic_request_is_refused_inside_an_in_scope_conversation(assistant) -> None:  # type: ignore[no-untyped-def]
    networks, email = talk(
        assistant,
        "Which networks help us find partners abroad?",
        "Thanks. Can you draft an email to the Danish cluster inviting them to a call?",
    )
    assert not networks.refused
    assert email.refused and email.scope is not None and email.scope.reason == "a writing task"
    assert "(it asks for a writing task)" in email.text and not email.citations


def test_a_role_told_once_is_kept_for_later_questions(assistant) -> None:  # type: ignore[no-untyped-def]
    told, checklist = talk(
        assistant,
        "I'm with a regional development ministry.",
        "What should be in place before we finish step 9?",
    )
    assert told.state.role == "policy_maker" and told.state.role_source == "said"
    assert "Noted: you speak for policy makers" in told.text
    assert checklist.intent == "checklist" and "checklist for policy makers" in checklist.text
    assert checklist.state.role == "policy_maker" and checklist.state.role_source == "earlier"


def test_the_scope_verdict_is_taken_on_the_message_not_inherited(assistant) -> None:  # type: ignore[no-untyped-def]
    case, hire = talk(
        assistant,
        "Tell me about the Greek cluster liaison office in Silicon Valley.",
        "Should we hire its next manager on a fixed-term or a permanent contract?",
    )
    assert not case.refused and hire.refused
    assert hire.scope is not None and hire.scope.margin is not None and hire.scope.margin < 0
    assert hire.scope.reason == "HR and hiring" and "(it asks for HR and hiring)" in hire.text


def test_a_bare_follow_up_is_judged_with_its_reference_and_an_off_topic_one_is_still_refused(
    assistant,
) -> None:  # type: ignore[no-untyped-def]
    """ "And who paid for it?" is about the case just discussed; "What's the best hotel there?" is not."""
    case, paid, hotel = talk(
        assistant,
        "Which case in the handbook deals with Canada?",
        "And who paid for it?",
        "What's the best hotel there?",
    )
    assert not case.refused and not paid.refused and paid.citations
    assert hotel.refused


def test_ask_history_reproduces_a_conversation(handbook_settings, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ui.cli import app

    monkeypatch.setenv("HANDBOOK_DATA_DIR", str(handbook_settings.data_dir))
    history = tmp_path / "history.json"
    history.write_text(
        json.dumps(
            [
                {
                    "role": "user",
                    "content": "Tell me about the Greek cluster liaison office in Silicon Valley.",
                },
                {"role": "assistant", "content": "Case 17 …"},
            ]
        )
    )
    out = CliRunner().invoke(
        app, ["ask", "What did they learn from it?", "--history", str(history), "--json"]
    )
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    assert {c["case"] for c in answer["citations"]} == {"17"}
    history.write_text('[{"role": "bot", "content": "hi"}]')
    bad = CliRunner().invoke(app, ["ask", "What now?", "--history", str(history)])
    assert bad.exit_code == 2 and "give a JSON list of" in bad.output and "Traceback" not in bad.output

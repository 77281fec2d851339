"""Situations in everyday words: the choices offered where no cue recognises a situation, and the user's pick."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from assistant.journey import default_journey
from assistant.situations import choices_for, offer_question, read_pick, tells_own_situation
from assistant.state import Choice, ConversationState

JOURNEY = default_journey()
FAILED = Choice(condition="project_unsuccessful", step=6, label="The project did not work out")
UNEXPECTED = Choice(condition="unexpected_event", step=3, label="Something unexpected came up")
NEW = Choice(condition="new_opportunity", step=3, label="A new opportunity came up")
OFFERED = [FAILED, UNEXPECTED, NEW]

# The three messages of issue 13: no cue recognises them.
COOLED = "Our members have cooled on the whole idea of going abroad and keep asking what's in it for them."
QUIET = "Our lead partner in Norway has gone quiet and the joint bid we were preparing is off."
STAFF = "Half of our experienced international staff have left this year and the rest are stretched thin."


# -- no index needed ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("1", FAILED),
        (" 2 ", UNEXPECTED),
        ("the second", UNEXPECTED),
        ("The first one", FAILED),
        ("the last one", NEW),
        ("yes, it failed", FAILED),
        ("Something unexpected came up", UNEXPECTED),
        ("a new opportunity, really", NEW),
    ],
)
def test_a_reply_picks_an_offered_choice(reply: str, expected: Choice) -> None:
    """A number, an ordinal, a button's label or the user's own words pick that choice."""
    assert read_pick(reply, OFFERED, JOURNEY) == expected


@pytest.mark.parametrize("reply", ["4", "What does Step 6 involve?", "", "tell me about the Tube Map"])
def test_other_replies_pick_nothing(reply: str) -> None:
    """A number beyond the choices or a new question is not a pick."""
    assert read_pick(reply, OFFERED, JOURNEY) is None
    assert read_pick("1", [], JOURNEY) is None


def test_the_question_offers_each_condition_with_its_step() -> None:
    """One short question, each condition with the step it leads to."""
    question = offer_question([FAILED, UNEXPECTED])
    assert question.startswith("Did the project not work out (back to Step 6), or did something unexpected")
    assert "(review Step 3)?" in question and "Reply 1 or 2" in question


def test_the_current_step_narrows_the_choices() -> None:
    """At Step 8 only the transitions leaving Step 8 are offered; neutral nearest offers nothing."""
    ranked = [("reassess_why", 0.7), ("project_unsuccessful", 0.6), ("checklist_met", 0.5), ("neutral", 0.4)]
    at_8 = choices_for(JOURNEY, ranked, 8, None)
    assert [(c.condition, c.step) for c in at_8] == [("project_unsuccessful", 6), ("checklist_met", 9)]
    anywhere = choices_for(JOURNEY, ranked, None, None)
    assert [(c.condition, c.step) for c in anywhere] == [("reassess_why", 1), ("project_unsuccessful", 6)]
    assert choices_for(JOURNEY, [("neutral", 0.8), *ranked], None, None) == []


def test_only_personal_statements_are_compared() -> None:
    """Questions about the handbook or for facts tell no situation; statements about us do."""
    assert tells_own_situation(QUIET, JOURNEY)
    assert tells_own_situation("We just lost our biggest member. What now?", JOURNEY)
    assert not tells_own_situation("Which case studies deal with Japan?", JOURNEY)
    assert not tells_own_situation("Should our first partners be nearby countries or distant ones?", JOURNEY)
    assert not tells_own_situation(
        "We're an Estonian cluster. Which networks list partner clusters in Asia?", JOURNEY
    )


# -- the real assistant over the real index ----------------------------------------------------------
def _offered_or_proposed(answer) -> list[str]:  # type: ignore[no-untyped-def]
    found = [c.condition for c in answer.choices]
    return found + ([answer.next_step.condition] if answer.next_step and answer.next_step.condition else [])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("message", "condition", "step"),
    [(COOLED, "reassess_why", 1), (QUIET, "project_unsuccessful", 6), (STAFF, "reassess_readiness", 2)],
)
def test_the_issue_messages_get_their_condition_offered(assistant, message, condition, step) -> None:  # type: ignore[no-untyped-def]
    """Each message of the issue gets its condition proposed or offered, with its step, and no refusal."""
    answer = assistant.ask(message)
    assert not answer.refused
    assert condition in _offered_or_proposed(answer)
    offered = {c.condition: c.step for c in answer.choices}
    if condition in offered:
        assert offered[condition] == step
        assert 2 <= len(answer.choices) <= 3
        assert answer.clarification and f"Step {step}" in answer.clarification
        assert answer.state.choices == answer.choices


@pytest.mark.slow
def test_a_pick_in_words_gives_the_next_step_with_checklist_and_quote(assistant) -> None:  # type: ignore[no-untyped-def]
    """After the choices, "yes, it failed" is read as the failed project: Step 6, as when a cue matches."""
    offered = assistant.ask(QUIET)
    assert "project_unsuccessful" in [c.condition for c in offered.choices]
    picked = assistant.ask("yes, it failed", offered.state)
    ns = picked.next_step
    assert ns is not None and ns.step == 6 and ns.condition == "project_unsuccessful"
    assert ns.transition_id in {"step8-project-unsuccessful", "tube-project-development"}
    assert ns.checklist and ns.quote and "The handbook: “" in picked.text and picked.citations
    assert not picked.choices and not picked.state.choices


@pytest.mark.slow
def test_a_pick_by_ordinal_at_a_known_step(assistant) -> None:  # type: ignore[no-untyped-def]
    """At Step 8 (from the UI) the choices leave Step 8, and "the first one" follows the first of them."""
    offered = assistant.ask(QUIET, ConversationState(current_step=8))
    assert offered.choices
    assert {c.condition for c in offered.choices} <= {t.condition for t in JOURNEY.transitions_from(8)}
    first = offered.choices[0]
    picked = assistant.ask("the first one", offered.state)
    assert picked.next_step is not None and picked.next_step.condition == first.condition
    assert picked.next_step.step == first.step and picked.next_step.from_step == 8


@pytest.mark.slow
@pytest.mark.parametrize(
    "message",
    [
        "Which case studies deal with Japan?",
        "Which networks list partner clusters in Asia?",
        "We're a food cluster in Portugal. Which networks help clusters find partners abroad?",
        "We're preparing a study visit. What does the handbook say about building trust?",
        "What is the Tube Map?",
    ],
)
def test_neutral_messages_get_no_choices(assistant, message) -> None:  # type: ignore[no-untyped-def]
    """Messages that tell no situation get an answer, no choices and no next step."""
    answer = assistant.ask(message)
    assert not answer.choices and answer.next_step is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "message",
    [
        # Where the user is, with work under way and nothing changed (the new-user bug of the last round).
        "We're halfway through delivering a joint pilot project with a Finnish cluster.",
        "We are in the middle of negotiating a cooperation agreement with two clusters in Chile.",
        # A state, not a change.
        "We are a medical technology cluster with 120 members in Bavaria and we want to learn from others.",
        "We are preparing a delegation visit to Japan in the spring.",
        "We signed a memorandum of understanding with a Polish cluster last year and are running joint workshops.",
        "Our project with the Austrian cluster is going well so far.",
        "We have a good relationship with two clusters in Spain and talk every month.",
        "We received Interreg funding for a three-year project.",
    ],
)
def test_statements_of_where_we_are_get_no_choices(assistant, message) -> None:  # type: ignore[no-untyped-def]
    """A statement of the user's state or work under way tells no change: no choices, no next step."""
    answer = assistant.ask(message)
    assert not answer.choices and answer.next_step is None, answer.text


@pytest.mark.slow
def test_work_under_way_is_noted_and_a_later_failure_still_leads_back_to_step_6(assistant) -> None:  # type: ignore[no-untyped-def]
    """ "Halfway through delivering a pilot" is noted; "it is dead, what now?" then gets Step 6."""
    noted = assistant.ask("We're halfway through delivering a joint pilot project with a Finnish cluster.")
    assert noted.intent == "context" and noted.text.startswith("Noted")
    failed = assistant.ask(
        "The Finnish side has pulled the plug and the pilot is dead. What now?", noted.state
    )
    assert failed.next_step is not None and failed.next_step.step == 6


@pytest.mark.slow
def test_an_event_told_during_work_under_way_is_still_compared(assistant) -> None:  # type: ignore[no-untyped-def]
    """ "Halfway through …" followed by what happened tells a change: it gets choices or a next step."""
    answer = assistant.ask(
        "Halfway through our joint robotics pilot with the Czech cluster, their government changed the "
        "funding rules overnight. We are carrying on as best we can."
    )
    assert answer.choices or answer.next_step is not None


@pytest.mark.slow
def test_a_pick_by_number_in_handbook_chat(handbook_settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`handbook chat`: the choices are numbered, and replying 1 gives the next step of the first."""
    from ui.cli import app

    monkeypatch.setenv("HANDBOOK_DATA_DIR", str(handbook_settings.data_dir))
    result = CliRunner().invoke(app, ["chat", "--step", "8"], input=f"{QUIET}\n1\n\n")
    assert result.exit_code == 0, result.output
    assert "  1. " in result.output and "  2. " in result.output
    first = result.output.split("  1. ", 1)[1].splitlines()[0]
    step = first.rsplit("(Step ", 1)[1].rstrip(")")
    assert f"Next step: Step {step} – " in result.output
    assert "The handbook: “" in result.output

"""Tests of the journey model (corpus/journey.yaml, assistant/journey.py) and the next-step logic."""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.journey import (
    CHECKLIST_MET,
    JOURNEY_COMPLETE,
    Journey,
    JourneyError,
    check_quotes,
    default_journey_path,
    load_journey,
    normalise_message,
    normalise_quote_text,
)
from assistant.nextstep import (
    CONFIDENT,
    Clarification,
    NextStepProposal,
    detect_condition,
    infer_current_step,
    is_next_step_question,
    propose_next_step,
)
from ingest.handbook import STEP_TITLES
from ingest.records import Checklist, ChecklistItem

REPO = Path(__file__).resolve().parents[1]
CORPUS_PATH = REPO / "corpus" / "tactics-cluster-internationalisation-handbook.txt"
CORPUS = CORPUS_PATH.read_text(encoding="utf-8")
NORMALISED_CORPUS = normalise_quote_text(CORPUS)
JOURNEY = load_journey(default_journey_path(), CORPUS)
RAW: dict[str, Any] = yaml.safe_load(default_journey_path().read_text(encoding="utf-8"))

TITLES = STEP_TITLES  # the one source of the handbook's step titles

# A natural sentence for every condition in journey.yaml; each must be detected as its condition.
EXAMPLES: dict[str, list[str]] = {
    CHECKLIST_MET: [
        "We have finished this step.",
        "We're done with it, the checklist is met.",
        "All the answers are positive.",
    ],
    "project_unsuccessful": [
        "Our project with the Korean partners failed.",
        "The collaboration was unsuccessful.",
        "It didn't work out with the Brazilian cluster.",
        "The joint project fell through last month.",
        "Our partnership collapsed.",
    ],
    "unexpected_event": [
        "Something unexpected happened during the project.",
        "We had a surprise: a new regulation in the target market.",
        "An unforeseen outcome came out of the collaboration.",
    ],
    JOURNEY_COMPLETE: [
        "We've finished step 10.",
        "We have completed the whole journey.",
        "We have become truly international.",
    ],
    "not_international": [
        "Internationalisation is not for us.",
        "We decided not to go international.",
        "Our members don't want to go international, we will stay local.",
    ],
    "reassess_readiness": [
        "It turns out we lack the skills.",
        "It turned out our team lacks skills we thought we had.",
        "We are not ready yet.",
        "So we may not be ready after all.",
        "We need to reassess our readiness.",
    ],
    "results_review": [
        "The results suggest we should revise our strategy.",
        "Our action plan needs a review.",
    ],
    "new_opportunity": [
        "We spotted a new opportunity in Japan.",
        "The benchmarking produced some new ideas.",
    ],
    "reassess_why": [
        "We need to rethink why we are doing this.",
        "Our motivation has changed.",
    ],
    "cluster_decline": [
        "Our cluster is declining.",
        "Some members are forming a new cluster organisation around an emerging industry.",
    ],
}

NEXT_STEP_QUESTIONS = [
    "What next?",
    "what should we do now",
    "Where do we go from here?",
    "Which step comes after?",
    "We have completed the checklist.",
    "We're done with step 3.",
    "What's the next step for us?",
    "Can we move on?",
    "how should we proceed",
    "Where do we restart?",
]
NOT_NEXT_STEP_QUESTIONS = [
    "What is a cluster organisation?",
    "Tell me about case 12.",
    "We have not finished step 3.",
    "Who wrote the handbook?",
    "",
]
OFF_TOPIC = ["What is the capital of France?", "I need to measure my kitchen.", "Hello!", "", "   "]


def make_checklists() -> dict[int, Checklist]:
    """One small checklist per step: a cluster-only, a policy-only and a shared item."""
    return {
        n: Checklist(
            part=f"step-{n}",
            step=n,
            intro="",
            items=(
                ChecklistItem(f"Step {n}: cluster question?", "cluster_organisation"),
                ChecklistItem(f"Step {n}: policy question?", "policy_maker"),
                ChecklistItem(f"Step {n}: shared question?", "both"),
            ),
            next_words=(),
        )
        for n in range(1, 11)
    }


CHECKLISTS = make_checklists()


def write_journey(tmp_path: Path, data: dict[str, Any]) -> Path:
    """Write a (possibly broken) journey to a temporary yaml file."""
    path = tmp_path / "journey.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def transition_raw(data: dict[str, Any], tid: str) -> dict[str, Any]:
    """The raw yaml mapping of a transition."""
    return next(t for t in data["transitions"] if t["id"] == tid)


def is_plain(pattern: str) -> bool:
    """Whether a cue is a literal phrase (so it can be put in a sentence as is)."""
    return re.search(r"[\\()\[\]?*+|{}^$.]", pattern) is None


# ---------------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------------


def test_real_journey_loads_and_every_quote_is_in_the_corpus() -> None:
    journey = load_journey(default_journey_path(), CORPUS)
    assert [s.number for s in journey.steps] == list(range(1, 11))
    check_quotes(journey, CORPUS)  # does not raise


def test_default_journey_path_is_in_the_repository() -> None:
    assert default_journey_path() == REPO / "corpus" / "journey.yaml"
    assert default_journey_path().is_file()


def test_step_titles_and_phases() -> None:
    assert {s.number: s.title for s in JOURNEY.steps} == TITLES
    phases = {s.number: s.phase for s in JOURNEY.steps}
    assert [n for n, p in phases.items() if p == "get-ready"] == [1, 2, 3, 4, 5]
    assert [n for n, p in phases.items() if p == "take-action"] == [7, 8, 9]
    assert [n for n, p in phases.items() if p == "use-networks"] == [6, 10]
    assert JOURNEY.phase("get-ready").title == "Get Ready"
    assert JOURNEY.step(4).label == "Step 4 \u2013 Strategy & Action Plan"


def test_funding_theme() -> None:
    assert JOURNEY.theme.id == "funding"
    assert JOURNEY.theme.title == "Utilise Funding"
    assert "never completed" in JOURNEY.theme.quote


def test_every_step_1_to_9_moves_forward_with_the_completion_sentence() -> None:
    for n in range(1, 10):
        forward = [t for t in JOURNEY.transitions_from(n) if t.kind == "forward"]
        assert len(forward) == 1
        assert forward[0].to == n + 1
        assert forward[0].condition == CHECKLIST_MET
        assert forward[0].quote == "If the answers are positive, then move onto the next Step."
        assert forward[0].part == f"step-{n}"
        assert JOURNEY.onward(n) == forward[0]
    assert JOURNEY.onward(10).condition == JOURNEY_COMPLETE
    assert JOURNEY.onward(10).to == 3


@pytest.mark.parametrize(
    ("from_", "to", "condition", "part", "quote_start"),
    [
        (8, 6, "project_unsuccessful", "step-8", "If the project or collaboration is unsuccessful"),
        (8, 3, "unexpected_event", "step-8", "If an unexpected event or outcome has occurred"),
        (10, 3, "journey_complete", "step-10", "Go back to Step 3"),
        (1, 1, "not_international", "tube-map", "if the answer to the internationalisation"),
        (5, 2, "reassess_readiness", "tube-map", "It also shows how Implementing Training"),
        (7, 4, "results_review", "tube-map", "developing trust and implementing"),
        (8, 4, "results_review", "tube-map", "developing trust and implementing"),
        (9, 3, "new_opportunity", "tube-map", "Benchmarking and Cluster Dynamics"),
        (9, 2, "reassess_readiness", "tube-map", "Benchmarking and Cluster Dynamics"),
        (7, 6, "project_unsuccessful", "tube-map", "some \u201cprojects\u201d might not work"),
        (9, 4, "results_review", "step-9", "These can lead to early stages"),
    ],
)
def test_the_handbook_loops_are_in_the_journey(
    from_: int, to: int, condition: str, part: str, quote_start: str
) -> None:
    t = JOURNEY.transition(from_, condition)
    assert t is not None
    assert (t.to, t.part) == (to, part)
    assert t.quote.startswith(quote_start)


def test_not_international_is_the_only_exit() -> None:
    exits = [t for t in JOURNEY.transitions if t.kind == "exit"]
    assert [(t.from_, t.to, t.condition) for t in exits] == [(1, 1, "not_international")]


def test_loops_go_back_and_pairs_are_unique() -> None:
    for t in JOURNEY.transitions:
        if t.kind == "loop":
            assert t.to <= t.from_
    pairs = [(t.from_, t.condition) for t in JOURNEY.transitions]
    assert len(pairs) == len(set(pairs))


def test_every_condition_has_a_summary_and_examples() -> None:
    used = {t.condition for t in JOURNEY.transitions}
    assert used == set(JOURNEY.conditions)
    assert used == set(EXAMPLES)


def test_quote_normalisation_handles_the_pdf_artifacts() -> None:
    assert normalise_quote_text("interna-\ntionalisation") == "internationalisation"
    assert normalise_quote_text("organi-\n\nsation") == "organisation"
    assert normalise_quote_text("interna- \n  tional") == "international"
    assert normalise_quote_text("User-\nDriven") == normalise_quote_text("User-Driven")
    assert normalise_quote_text("the\t\u201cWhy?\u201d  question") == 'the "why?" question'
    assert normalise_quote_text("Step 6 \u2013 Use") == "step 6 - use"
    assert normalise_quote_text("\ufb01nance") == "finance"  # NFKC folds the ligature


def test_message_normalisation() -> None:
    assert normalise_message("Strategy & Action Plan") == "strategy and action plan"
    assert normalise_message("We will INTERNATIONALIZE") == "we will internationalise"
    assert normalise_message("the \u201cWhy?\u201d step") == "the why? step"
    assert normalise_message("we\u2019re  done") == "we're done"


@pytest.fixture
def raw() -> dict[str, Any]:
    """A deep copy of journey.yaml to break."""
    return copy.deepcopy(RAW)


def test_quote_missing_from_the_corpus_names_the_transition_and_the_quote(
    tmp_path: Path, raw: dict[str, Any]
) -> None:
    transition_raw(raw, "step8-unexpected-event")["quote"] = "If a meteor strikes the cluster, review Step 3."
    with pytest.raises(JourneyError) as err:
        load_journey(write_journey(tmp_path, raw), CORPUS)
    assert "step8-unexpected-event" in str(err.value)
    assert "If a meteor strikes" in str(err.value)
    # Without the corpus the structure alone is valid.
    load_journey(write_journey(tmp_path, raw))


def test_long_missing_quote_is_shortened_and_all_missing_quotes_are_listed(
    tmp_path: Path, raw: dict[str, Any]
) -> None:
    transition_raw(raw, "tube-life-cycle")["quote"] = "Clusters never decline. " * 10
    raw["steps"][2]["completion"] = "If the answers are negative, then stop."
    with pytest.raises(JourneyError) as err:
        load_journey(write_journey(tmp_path, raw), CORPUS)
    message = str(err.value)
    assert "tube-life-cycle" in message and "step 3 completion" in message
    assert "..." in message and ("Clusters never decline. " * 10) not in message


def test_quote_with_different_whitespace_hyphenation_and_quotes_is_found(
    tmp_path: Path, raw: dict[str, Any]
) -> None:
    transition_raw(raw, "tube-not-international")["quote"] = (
        'IF  the answer to the internationalisation "Why?"\nquestion is to not go interna-\ntional'
    )
    load_journey(write_journey(tmp_path, raw), CORPUS)


def test_unknown_step_is_rejected(tmp_path: Path, raw: dict[str, Any]) -> None:
    transition_raw(raw, "step8-project-unsuccessful")["to"] = 11
    with pytest.raises(JourneyError, match=r"step8-project-unsuccessful.*unknown step 11"):
        load_journey(write_journey(tmp_path, raw))


def test_duplicate_transition_id_is_rejected(tmp_path: Path, raw: dict[str, Any]) -> None:
    transition_raw(raw, "tube-life-cycle")["id"] = "step8-unexpected-event"
    with pytest.raises(JourneyError, match=r"duplicate transition id 'step8-unexpected-event'"):
        load_journey(write_journey(tmp_path, raw))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: d["steps"].pop(), r"steps must be numbered 1\.\.10"),
        (lambda d: d["steps"][1].update(number=1), r"steps must be numbered 1\.\.10"),
        (lambda d: d["steps"][1].update(phase="get-lost"), r"step 2 has unknown phase 'get-lost'"),
        (lambda d: d["steps"][1]["aliases"].append("training"), r"alias 'training' belongs to both"),
        (lambda d: d["theme"]["aliases"].append("Strategy"), r"alias 'strategy' belongs to both"),
        (lambda d: d["transitions"].pop(3), r"step 4 has no forward transition"),
        (lambda d: transition_raw(d, "forward-4-5").update(to=6), r"'forward-4-5': forward transitions"),
        (
            lambda d: transition_raw(d, "tube-life-cycle").update(condition="checklist_met"),
            r"forward transitions",
        ),
        (lambda d: transition_raw(d, "tube-life-cycle").update(condition="meteor"), r"'meteor'"),
        (lambda d: transition_raw(d, "tube-life-cycle").update(part="chapter-99"), r"unknown part"),
        (lambda d: transition_raw(d, "tube-life-cycle").update(cues=["(unclosed"]), r"invalid regular"),
        (lambda d: transition_raw(d, "tube-life-cycle").update(kind="teleport"), r"kind"),
        (lambda d: transition_raw(d, "tube-life-cycle").update(to=10, **{"from": 1}), r"must go back"),
        (lambda d: transition_raw(d, "step10-journey-again").update(condition="reassess_readiness"), r"pair"),
        (
            lambda d: transition_raw(d, "step10-journey-again").update(condition="new_opportunity"),
            r"step 10 needs a 'journey_complete' transition",
        ),
        (lambda d: d["transitions"][0].update(surprise=True), r"surprise"),
        (lambda d: d.pop("theme"), r"theme"),
        (lambda d: d["theme"].update(part="nowhere"), r"unknown part 'nowhere'"),
        (lambda d: d["phases"].append(dict(d["phases"][0])), r"duplicate phase id 'get-ready'"),
        (
            lambda d: d["phases"].append({"id": "empty", "title": "Empty", "quote": "x"}),
            r"phase 'empty' has no steps",
        ),
    ],
)
def test_structural_errors_are_reported(
    tmp_path: Path, raw: dict[str, Any], breakage: Any, message: str
) -> None:
    breakage(raw)
    with pytest.raises(JourneyError, match=message):
        load_journey(write_journey(tmp_path, raw))


def test_unreadable_or_non_mapping_files_are_journey_errors(tmp_path: Path) -> None:
    with pytest.raises(JourneyError, match="cannot read"):
        load_journey(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [unclosed", encoding="utf-8")
    with pytest.raises(JourneyError, match="cannot read"):
        load_journey(bad)
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(JourneyError, match="mapping"):
        load_journey(bad)


def test_journey_error_is_a_value_error() -> None:
    assert issubclass(JourneyError, ValueError)


def test_unknown_step_lookup() -> None:
    with pytest.raises(KeyError):
        JOURNEY.step(11)
    assert JOURNEY.transitions_from(11) == []
    assert JOURNEY.transition(4, "project_unsuccessful") is None


def test_the_journey_model_does_not_import_the_surfaces() -> None:
    tree = ast.parse((REPO / "assistant" / "journey.py").read_text(encoding="utf-8"))
    modules = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in modules if m.split(".")[0] in {"evals", "ui"}}


# ---------------------------------------------------------------------------------------------
# Naming steps and funding
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("we are at step 6", [6]),
        ("We are at Step 6.", [6]),
        ("step six", [6]),
        ("the sixth step", [6]),
        ("the 6th step", [6]),
        ("step #6", [6]),
        ("step no. 6", [6]),
        ("step 10", [10]),
        ("Step Ten is hard", [10]),
        ("steps 3 and 4", [3, 4]),
        ("steps 3, 4 and 5", [3, 4, 5]),
        ("steps 3 to 5", [3, 4, 5]),
        ("steps 7-9", [7, 8, 9]),
        ("steps three and four", [3, 4]),
        ("step 3 and 4", [3, 4]),
        ("step 3 and one of our partners", [3]),
        ("the third and fourth steps", [3, 4]),
        ("step 10 and step 1", [10, 1]),
        ("Step 6 \u2013 Use the Networks", [6]),
        ("the strategy step", [4]),
        ("our Strategy & Action Plan", [4]),
        ("our strategy and action plan", [4]),
        ("when we measure success", [9]),
        ("identify partners", [6]),
        ("Identifying partners before building trust", [6, 7]),
        ("implementing training", [5]),
        ("the \u201cWhy?\u201d question", [1]),
        ("why internationalize at all", [1]),
        ("assess readiness", [2]),
        ("identify opportunities then the action plan", [3, 4]),
        ("develop trust & projects", [7]),
        ("implementing the project", [8]),
        ("evaluation", [9]),
        ("sustaining the networks", [10]),
        ("after step 4 comes identify partners? no, training", [4, 6, 5]),
        ("Step 4 and step 4 again", [4]),
    ],
)
def test_match_steps(text: str, steps: list[int]) -> None:
    assert JOURNEY.match_steps(text) == steps


@pytest.mark.parametrize(
    "text",
    [
        # Decision: bare verbs ("measure", "implement", "identify") are not aliases, only the step
        # phrases are, so everyday uses of them name no step.
        "I need to measure my kitchen",
        "We implement changes every week",
        "Can you identify the author?",
        "There are ten steps in the journey",
        "The next step is unclear",
        "step 11",
        "step 0",
        "footstep 6",
        "steps",
        "a networking event",
        "",
    ],
)
def test_match_steps_has_no_false_positives(text: str) -> None:
    assert JOURNEY.match_steps(text) == []


def test_evaluation_is_an_alias_even_in_everyday_text() -> None:
    # Decision, documented: "evaluation" is the handbook's word for Step 9 (the user asked for it as an
    # alias), so it names Step 9 even in an unrelated sentence. Multi-word aliases avoid this elsewhere.
    assert JOURNEY.match_steps("the evaluation of my kitchen") == [9]


@pytest.mark.parametrize("step", JOURNEY.steps, ids=lambda s: f"step-{s.number}")
def test_every_alias_names_only_its_own_step(step: Any) -> None:
    for alias in step.aliases:
        assert JOURNEY.match_steps(alias) == [step.number], alias
        assert JOURNEY.match_steps(f"Tell me more about {alias}, please.") == [step.number], alias
        assert not JOURNEY.mentions_funding(alias), alias


def test_step_mentions_mark_targets() -> None:
    mentions = JOURNEY.step_mentions("We finished step 3, can we move on to step 4?")
    assert [(m.step, m.target) for m in mentions] == [(3, False), (4, True)]
    assert JOURNEY.step_mentions("go back to identifying partners")[0].target


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How can we get funding for this?", True),
        ("Is there a grant for study visits?", True),
        ("Utilize funding", True),
        ("Innovation Express", True),
        ("We have no budget", True),
        ("We need to find partners", False),
        ("What is fundamental here?", False),
        ("", False),
    ],
)
def test_mentions_funding(text: str, expected: bool) -> None:
    assert JOURNEY.mentions_funding(text) is expected


# ---------------------------------------------------------------------------------------------
# Conditions, situations and questions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "text"), [(c, t) for c, texts in EXAMPLES.items() for t in texts], ids=str
)
def test_detect_condition_examples(condition: str, text: str) -> None:
    assert detect_condition(JOURNEY, text) == condition


PLAIN_CUES = sorted(
    {(c, cue) for c, cues in JOURNEY.cues_by_condition().items() for cue in cues if is_plain(cue)}
)


@pytest.mark.parametrize(("condition", "cue"), PLAIN_CUES, ids=str)
def test_every_plain_cue_signals_its_condition(condition: str, cue: str) -> None:
    assert detect_condition(JOURNEY, f"Quick update from our cluster: {cue}.") == condition


def test_every_condition_has_plain_cues_or_examples() -> None:
    assert {c for c, _ in PLAIN_CUES} | set(EXAMPLES) == set(JOURNEY.conditions)


@pytest.mark.parametrize(
    "text",
    [
        "The project did not fail.",
        "It was no surprise.",
        "Our project runs smoothly and nothing unexpected has happened.",
        "No, it was not unexpected at all.",
        "We haven't finished step 3.",
        "We never decided not to go international",  # double negation is left alone: no condition
        "What is a cluster?",
        "",
    ],
)
def test_negated_or_absent_conditions(text: str) -> None:
    assert detect_condition(JOURNEY, text) is None


def test_negation_stops_at_the_clause() -> None:
    assert detect_condition(JOURNEY, "No, it failed.") == "project_unsuccessful"
    assert detect_condition(JOURNEY, "It is not ok. The project failed.") == "project_unsuccessful"


def test_specific_condition_beats_completion_and_earliest_cue_wins() -> None:
    assert detect_condition(JOURNEY, "We completed the whole journey.") == JOURNEY_COMPLETE
    assert detect_condition(JOURNEY, "Something unexpected happened and then the project failed") == (
        "unexpected_event"
    )
    assert detect_condition(JOURNEY, "The project failed, which was unexpected") == "project_unsuccessful"


@pytest.mark.parametrize(
    ("text", "step"),
    [
        ("We have just finished our strategy and action plan", 4),
        ("We are running our projects with partners", 8),
        ("We are looking for partners", 6),
        ("We are at step 6", 6),
        ("We finished steps 3 and 4", 4),
        ("We are thinking about going international", 1),
        ("We used the diagnostic tool", 2),
        ("We are doing market research in Asia", 3),
        ("We are training our staff", 5),
        ("We signed a memorandum of understanding", 7),
        ("We are collecting KPIs and benchmarking", 9),
        ("How do we keep the networks alive?", 10),
    ],
)
def test_infer_current_step(text: str, step: int) -> None:
    inferred, confidence = infer_current_step(JOURNEY, text)
    assert inferred == step
    assert CONFIDENT <= confidence <= 1.0


def test_a_named_step_is_certain_and_vague_text_is_unknown() -> None:
    assert infer_current_step(JOURNEY, "we are at step 6") == (6, 1.0)
    assert infer_current_step(JOURNEY, "Hello there") == (None, 0.0)
    assert infer_current_step(JOURNEY, "We should go to step 6") == (None, 0.0)  # a target, not a place
    step, confidence = infer_current_step(JOURNEY, "We have some partners")
    assert step == 6 and 0 < confidence < CONFIDENT


@pytest.mark.parametrize("text", NEXT_STEP_QUESTIONS)
def test_is_next_step_question(text: str) -> None:
    assert is_next_step_question(text)
    assert is_next_step_question(text, JOURNEY)


@pytest.mark.parametrize("text", NOT_NEXT_STEP_QUESTIONS)
def test_is_not_next_step_question(text: str) -> None:
    assert not is_next_step_question(text, JOURNEY)


# ---------------------------------------------------------------------------------------------
# propose_next_step
# ---------------------------------------------------------------------------------------------


def propose(
    text: str, current_step: int | None = None, **kwargs: Any
) -> NextStepProposal | Clarification | None:
    """propose_next_step over the real journey and the small test checklists."""
    return propose_next_step(JOURNEY, CHECKLISTS, text, current_step, **kwargs)


def as_proposal(result: NextStepProposal | Clarification | None) -> NextStepProposal:
    """The result, asserted to be a proposal."""
    assert isinstance(result, NextStepProposal), result
    return result


@pytest.mark.parametrize("transition", JOURNEY.transitions, ids=lambda t: t.id)
def test_every_transition_is_reachable_from_a_user_sentence(transition: Any) -> None:
    for sentence in EXAMPLES[transition.condition]:
        # At the step, told by the UI.
        p = as_proposal(propose(sentence, transition.from_))
        assert (p.transition_id, p.step, p.kind) == (transition.id, transition.to, transition.kind), sentence
        assert p.quote == transition.quote
        assert p.title == JOURNEY.step(transition.to).title
        assert p.from_step == transition.from_
        # At the step, said in the message ("We are at Step 8. Our project failed.").
        p = as_proposal(propose(f"We are at Step {transition.from_}. {sentence}", None))
        assert p.transition_id == transition.id, sentence


@pytest.mark.parametrize("transition", JOURNEY.transitions, ids=lambda t: t.id)
def test_every_transition_is_reachable_from_its_plain_cues(transition: Any) -> None:
    for cue in filter(is_plain, transition.cues):
        p = as_proposal(propose(f"Update: {cue}.", transition.from_))
        assert p.transition_id == transition.id, cue


@pytest.mark.parametrize(
    ("text", "transition_id"),
    [
        ("Our project with the Korean partners failed.", "step8-project-unsuccessful"),
        ("We decided not to go international.", "tube-not-international"),
        ("Internationalisation is not for us", "tube-not-international"),
        ("We have completed the whole journey, what now?", "step10-journey-again"),
        ("Our cluster is declining", "tube-life-cycle"),
        ("We are not ready", "tube-training-readiness"),
        ("We met a partner at a study visit but the joint proposal failed", "tube-project-development"),
        ("The training showed we lack the skills", "tube-training-readiness"),
        ("Our project failed, is it Step 6 now?", "step8-project-unsuccessful"),
        ("Our project failed, should we go back to Step 6?", "step8-project-unsuccessful"),
    ],
)
def test_a_condition_places_a_user_who_names_no_step(text: str, transition_id: str) -> None:
    p = as_proposal(propose(text))
    assert p.transition_id == transition_id
    t = next(t for t in JOURNEY.transitions if t.id == transition_id)
    assert p.checklist == [i.text for i in CHECKLISTS[t.from_].items]


def test_not_international_from_no_step_has_no_from_step() -> None:
    p = as_proposal(propose("We decided not to go international."))
    assert (p.step, p.kind, p.from_step) == (1, "exit", None)
    assert "dead end" in p.reason


def test_a_condition_the_handbook_does_not_name_at_the_step_is_ignored() -> None:
    # not_international applies from Step 1 or from no step only; at Step 3 the checklist decides.
    p = as_proposal(propose("We decided not to go international, what next?", 3))
    assert (p.transition_id, p.step) == ("forward-3-4", 4)
    p = as_proposal(propose("Something unexpected happened.", 7))
    assert (p.kind, p.step) == ("stay", 7)


def test_unsuccessful_project_at_step_7_follows_the_project_development_line() -> None:
    p = as_proposal(propose("The project didn't work out.", 7))
    assert (p.transition_id, p.step) == ("tube-project-development", 6)


@pytest.mark.parametrize("n", range(1, 10))
def test_forward_from_every_step_with_all_answers_true(n: int) -> None:
    answers = {n: [True, True, True]}
    p = as_proposal(propose("", n, checklist_answers=answers))
    assert (p.step, p.kind, p.from_step, p.transition_id) == (n + 1, "forward", n, f"forward-{n}-{n + 1}")
    assert p.title == TITLES[n + 1]
    assert p.quote == "If the answers are positive, then move onto the next Step."
    assert p.reason == (
        f"You have met the Step {n} checklist, so the handbook moves you on to "
        f"Step {n + 1} \u2013 {TITLES[n + 1]}."
    )
    assert p.checklist == [i.text for i in CHECKLISTS[n].items]


def test_step_10_with_all_answers_true_starts_the_journey_again() -> None:
    p = as_proposal(propose("", 10, checklist_answers={10: [True, True, True]}))
    assert (p.step, p.transition_id, p.kind) == (3, "step10-journey-again", "loop")
    assert "again" in p.reason


def test_step_10_with_nothing_else_goes_back_to_step_3() -> None:
    p = as_proposal(propose("We are at step 10."))
    assert (p.step, p.transition_id) == (3, "step10-journey-again")


@pytest.mark.parametrize("n", range(1, 11))
def test_unmet_checklist_keeps_the_user_on_the_step_and_names_the_missing_items(n: int) -> None:
    p = as_proposal(propose("What next?", n, checklist_answers={n: [True, False, False]}))
    assert (p.step, p.kind, p.from_step) == (n, "stay", n)
    assert f"Step {n}: policy question?" in p.reason
    assert f"Step {n}: shared question?" in p.reason
    assert f"Step {n}: cluster question?" not in p.reason
    assert p.quote == JOURNEY.step(n).completion
    assert p.transition_id == JOURNEY.onward(n).id


def test_missing_answers_count_as_unmet() -> None:
    p = as_proposal(propose("", 4, checklist_answers={4: [True]}))
    assert p.kind == "stay"
    assert "Step 4: policy question?" in p.reason and "Step 4: shared question?" in p.reason


def test_answers_without_a_checklist_name_item_numbers() -> None:
    p = as_proposal(propose_next_step(JOURNEY, {}, "", 4, checklist_answers={4: [True, False]}))
    assert "item 2" in p.reason and p.checklist == []


def test_answers_for_a_single_step_place_the_user() -> None:
    p = as_proposal(propose("", None, checklist_answers={5: [True, True, True]}))
    assert (p.from_step, p.step) == (5, 6)


def test_a_condition_beats_the_checklist() -> None:
    p = as_proposal(propose("Our project failed.", 8, checklist_answers={8: [True, True, True]}))
    assert p.transition_id == "step8-project-unsuccessful"


@pytest.mark.parametrize(
    ("role", "items"),
    [
        (None, ["cluster", "policy", "shared"]),
        ("cluster_organisation", ["cluster", "shared"]),
        ("policy_maker", ["policy", "shared"]),
    ],
)
def test_checklist_is_filtered_by_role(role: str | None, items: list[str]) -> None:
    p = as_proposal(propose("We're done with step 4.", role=role))
    assert p.checklist == [f"Step 4: {i} question?" for i in items]


def test_role_answers_align_with_the_role_items() -> None:
    # A policy maker answers two questions (policy, shared); both True meets their checklist.
    p = as_proposal(propose("", 6, role="policy_maker", checklist_answers={6: [True, True]}))
    assert (p.kind, p.step) == ("forward", 7)
    p = as_proposal(propose("", 6, role="policy_maker", checklist_answers={6: [True, False]}))
    assert p.kind == "stay"
    assert "Step 6: shared question?" in p.reason and "Step 6: policy question?" not in p.reason


def test_role_filtering_of_a_loop_uses_the_step_being_left() -> None:
    p = as_proposal(propose("Our project failed.", 8, role="cluster_organisation"))
    assert p.checklist == ["Step 8: cluster question?", "Step 8: shared question?"]


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        ("We have just finished our strategy and action plan.", None, (5, "forward", 4)),
        ("We're done with step 3.", None, (4, "forward", 3)),
        ("We're done with step 3.", 7, (4, "forward", 3)),  # the message beats the UI's step
        ("What should we do now?", 4, (5, "forward", 4)),
        ("Which step comes after the strategy step?", None, (5, "forward", 4)),
        ("We are at step 5, should we go to step 6?", None, (6, "forward", 5)),
        (
            "We finished identifying opportunities and are starting on the action plan",
            None,
            (4, "forward", 3),
        ),
        ("We are looking for partners", None, (6, "stay", 6)),
        ("We are running our projects with partners", None, (8, "stay", 8)),
        ("Our project has finished, what now?", None, (9, "forward", 8)),
        ("Our project runs smoothly and nothing unexpected has happened. Where next?", 8, (9, "forward", 8)),
        ("We have clear evidence of market failure. Which step do we move to?", 1, (2, "forward", 1)),
    ],
)
def test_step_resolution(text: str, current: int | None, expected: tuple[int, str, int]) -> None:
    p = as_proposal(propose(text, current))
    assert (p.step, p.kind, p.from_step) == expected


def test_stay_without_answers_explains_what_comes_next() -> None:
    p = as_proposal(propose("We are at step 6"))
    assert p.kind == "stay"
    assert p.reason == (
        "Stay on Step 6 \u2013 Identify Partners until its checklist is met; "
        "then the handbook moves you on to Step 7 \u2013 Develop Trust & Projects."
    )


def test_reasons_are_single_sentences() -> None:
    p = as_proposal(propose("We decided not to go international."))
    assert p.reason.endswith("Step 1 \u2013 Why?")
    p = as_proposal(propose("Our project failed.", 8))
    assert p.reason == (
        "Because the project or collaboration was unsuccessful, the handbook takes you back to "
        "Step 6 \u2013 Identify Partners."
    )


def test_vague_situation_asks_one_question_with_two_or_three_candidates() -> None:
    result = propose("We've been working with some partners, what should we do next?")
    assert isinstance(result, Clarification)
    assert 2 <= len(result.candidates) <= 3
    assert result.candidates[0] == 6
    assert result.question.count("?") == 1 + sum(JOURNEY.step(n).title.count("?") for n in result.candidates)
    for n in result.candidates:
        assert JOURNEY.step(n).label in result.question


def test_competing_situations_ask_between_them() -> None:
    result = propose("We are looking for partners and running our projects, what next?")
    assert isinstance(result, Clarification)
    assert set(result.candidates[:2]) == {6, 8}


def test_no_clue_at_all_asks_about_the_phases() -> None:
    for text in ("What next?", "We have completed the checklist.", "We're done.", "We are all done!"):
        result = propose(text)
        assert isinstance(result, Clarification)
        assert result.candidates == []
        assert "Get Ready (Steps 1\u20135)" in result.question
        assert "Use Networks (Steps 6 and 10)" in result.question
        assert "Take Action (Steps 7\u20139)" in result.question


@pytest.mark.parametrize("text", OFF_TOPIC)
@pytest.mark.parametrize("current", [None, 4])
def test_off_topic_text_gives_none(text: str, current: int | None) -> None:
    assert propose(text, current) is None


def test_funding_alone_is_not_a_journey_position() -> None:
    assert propose("How do we get funding?") is None


def test_out_of_range_current_step_is_ignored() -> None:
    assert isinstance(propose("What next?", 42), Clarification)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

VOCABULARY = sorted(
    {a for s in JOURNEY.steps for a in s.aliases}
    | {c for cues in JOURNEY.cues_by_condition().values() for c in cues if is_plain(c)}
    | {"step", "steps", "3", "ten", "sixth", "and", "to", "not", "what next?", "go back to", "we are at"}
)
TEXTS = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=8)), max_size=12).map(" ".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=TEXTS,
    current=st.one_of(st.none(), st.integers(min_value=-2, max_value=12)),
    role=st.sampled_from([None, "cluster_organisation", "policy_maker"]),
    answers=st.one_of(
        st.none(),
        st.dictionaries(st.integers(min_value=0, max_value=11), st.lists(st.booleans(), max_size=5)),
    ),
)
def test_propose_next_step_never_raises(
    text: str, current: int | None, role: str | None, answers: dict[int, list[bool]] | None
) -> None:
    result = propose_next_step(JOURNEY, CHECKLISTS, text, current, role=role, checklist_answers=answers)
    assert result is None or isinstance(result, NextStepProposal | Clarification)
    if isinstance(result, NextStepProposal):
        assert 1 <= result.step <= 10
        assert result.title == JOURNEY.step(result.step).title
        assert result.kind in {"forward", "loop", "exit", "stay"}
        assert result.from_step is None or 1 <= result.from_step <= 10
        assert normalise_quote_text(result.quote) in NORMALISED_CORPUS
    if isinstance(result, Clarification):
        assert result.question.endswith("?")
        assert all(1 <= n <= 10 for n in result.candidates)
        assert len(result.candidates) in (0, 2, 3)


@settings(max_examples=200, deadline=None)
@given(text=TEXTS)
def test_matching_never_raises_and_stays_in_range(text: str) -> None:
    assert all(1 <= n <= 10 for n in JOURNEY.match_steps(text))
    step, confidence = infer_current_step(JOURNEY, text)
    assert 0.0 <= confidence <= 1.0
    assert (step is None) == (confidence == 0.0)
    detect_condition(JOURNEY, text)
    JOURNEY.mentions_funding(text)


def test_journey_is_a_pydantic_model() -> None:
    assert isinstance(JOURNEY, Journey)
    assert Journey.model_validate(RAW).transitions == JOURNEY.transitions


# Situations told in everyday words (none of them is a cue pattern written out), with the step
# the UI knows the user is at (or None), and where the handbook sends them.
EVERYDAY_SITUATIONS = [
    ("Our pilot with the Czech cluster petered out over the summer. Where do we go from here?", 8, 6),
    ("The targets were far too ambitious and the action plan itself needs rewriting. Where now?", 9, 4),
    ("We run two European networks and partnerships keep coming. I think we've made it. What next?", 10, 3),
    ("We lead two European networks now. Is this the end of the road for us?", 10, 3),
    ("We've become truly international. What now?", None, 3),
    ("Three foreign clusters have said yes to working with us. What should we be doing now?", 6, 7),
    ("We're in Step 8 and our joint project with the Danish cluster just died. What now?", None, 6),
    ("Implementation is over but the project was a flop. Where do we go?", None, 6),
    ("Our partner in Spain backed out of the project halfway. What should we do next?", 8, 6),
    ("While implementing, the market changed in ways nobody predicted. What step now?", 8, 3),
    ("Something we never saw coming happened during our project. Where should we go from here?", None, 3),
    ("We've ticked every box on the Step 3 checklist. What's next?", None, 4),
    ("All checklist questions for readiness are answered positively. Where do we go?", None, 3),
    ("We wrapped up our training programme and the checklist is fine. Next?", None, 6),
    ("Our members said they don't want to go abroad at all. What now?", 1, 1),
    (
        "After the Why analysis, we concluded internationalisation isn't right for us. What happens now?",
        None,
        1,
    ),
    ("Our evaluation showed our strategy is outdated. Where should we go back to?", 9, 4),
    ("The benchmarking exercise revealed some new markets worth exploring. What's next?", 9, 3),
    ("Measuring success showed we are not really ready for bigger international projects. Which step?", 9, 2),
    ("We have been through all ten steps. What now?", 10, 3),
    ("We're at the end of the journey. What comes next?", None, 3),
    ("Our trust building with the Korean cluster produced a new project idea. Where do we go?", 7, 3),
    ("Building trust with partners showed our action plan needs changes. What next?", 7, 4),
    (
        "The partners we met in step 7 don't want to work with us after all, nothing came of it. Now what?",
        7,
        6,
    ),
    ("We've found suitable partners and the Step 6 checklist is met. What's next?", None, 7),
    ("Our strategy and action plan are approved by the board. What should we do next?", 4, 5),
    ("We have identified and prioritised opportunities. Next step?", 3, 4),
    ("We completed the readiness assessment and we're ready. What now?", None, 3),
    ("Our cluster organisation is shrinking and may merge with another one. Where should we go?", 10, 1),
    ("We've finished implementing our projects successfully. What next?", 8, 9),
    ("We measured our success and all indicators are positive. What's next?", 9, 10),
    (
        "The EU-funded project with our Italian partners has been terminated early. Which step do we return to?",
        8,
        6,
    ),
    ("Our collaboration with the French cluster never got off the ground. What should we do?", 8, 6),
    ("Halfway through the project a key funder disappeared without warning. Where should we go now?", 8, 3),
    ("The implementation threw up results none of us anticipated. What next?", None, 3),
    ("We are done with step two. Which step follows?", None, 3),
    ("Our action plan is written and signed off. Where to now?", None, 5),
    ("Everything on the step 9 checklist is a yes. What's next for us?", None, 10),
    ("We have decided to stay a purely regional cluster. What does the handbook suggest?", 1, 1),
    ("Our members see no benefit in going global. What now?", 1, 1),
    ("We've sustained our networks and completed step 10. What comes after that?", None, 3),
    ("The evaluation tells us we lack the capacity for more international work. Where do we go?", 9, 2),
    ("Our results show the plan must be revised. What now?", 8, 4),
    ("During trust building we spotted an interesting opportunity in Canada. What should we do next?", 7, 3),
    ("We've trained our staff and the training checklist is complete. Next step?", None, 6),
    ("We know why we want to internationalise and the checklist is met. What's next?", None, 2),
    ("Our partnership project has collapsed. Which step should we go back to?", None, 6),
    ("The joint bid failed and the consortium split up. What now?", 8, 6),
    ("We completed the whole internationalisation journey. Now what?", None, 3),
    ("Our reasons for going international have changed since we started. Where should we restart?", 9, 1),
    ("We have good partners and trust, and a project is agreed. What's the next step?", 7, 8),
    ("Our consortium has broken up before delivering anything. Which step should we revisit?", 8, 6),
    ("The Brazilian partner stopped answering emails and the project is over. What do we do now?", 8, 6),
    ("An election changed the regional government and our project budget was cut overnight. What now?", 8, 3),
    ("We've finished assessing our readiness and everything looks good. What's the next stage?", None, 3),
    ("We have our list of target markets ready. Where do we go from here?", 3, 4),
    ("Our staff training is complete. Which step comes next?", 5, 6),
    ("We identified three partner clusters and checked them out. What now?", 6, 7),
    ("We decided internationalisation is not for our cluster. Now what?", None, 1),
    (
        "After measuring, it turns out we aren't ready to scale up our international work. Where should we go?",
        9,
        2,
    ),
    ("Benchmarking has shown us a promising new market in Asia. What should we do next?", 9, 3),
    ("We have completed all ten steps of the journey. What comes next?", None, 3),
    ("The monitoring results mean our strategy should be updated. What next?", 9, 4),
    ("Our network is going through big changes and may become a different organisation. Which step?", 10, 1),
    ("We have a signed agreement and our first joint project is running well. What is next?", 8, 9),
    ("We're at step 5 and the checklist is done. Next step please.", None, 6),
]


@pytest.mark.parametrize(
    ("message", "current_step", "expected"), EVERYDAY_SITUATIONS, ids=lambda x: str(x)[:40]
)
def test_everyday_situations_get_the_handbook_next_step(
    message: str, current_step: int | None, expected: int
) -> None:
    from assistant.route import wants_next_step

    assert wants_next_step(message, JOURNEY, at_step=current_step is not None), message
    assert as_proposal(propose(message, current_step)).step == expected, message

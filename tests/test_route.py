"""Naming a case by the names in its title, over hand-written passages (no model, no index)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assistant.cues import CueError, default_cues, default_cues_path, load_cues
from assistant.route import case_index, named_cases, unknown_names
from assistant.text import terms

CASES = [
    ("4", "Swedish Global Links Programme"),
    ("20", "INNET/Innovation Express Call for Proposals"),
    ("14", "CREATE – Fostering Digital Industries"),
    ("mentoring", "Proposal for a European Cluster Mentoring Programme"),
    ("7a", "Cooperation with the Enterprise Europe Network (EEN)"),
    ("7b", "Cooperation with the Enterprise Europe Network (EEN)"),
    ("11", "Open Innovation Test-beds to Stimulate International Collaboration"),
]

PASSAGES: list[tuple[str | None, str]] = [
    ("4", "Global Links funded 13 milieus. Global Links had two phases."),
    ("20", "Innovation Express was a common call. SMEs joined Innovation Express."),
    (None, "Participate in Innovation Express bids."),
    (None, "Further develop Innovation Express."),
    (None, "Innovation Express is a model for other regions."),
    ("14", "CREATE linked creative clusters."),
    (None, "Clusters create value. Members create jobs."),
    ("mentoring", "The European Cluster Mentoring Programme pairs managers."),
    *[(None, f"The European Cluster Observatory, report {n}.") for n in range(8)],
    ("7a", "The EEN helps SMEs find partners."),
    ("7b", "Enterprise Europe Network offices run brokerage events. The EEN is everywhere."),
    (None, "Ask the EEN or the Enterprise Europe Network."),
    ("11", "Open Innovation Test-beds let firms try products."),
    (None, "International Collaboration matters; international collaboration is hard."),
]


def _names(question: str) -> list[str]:
    return named_cases(question, case_index(CASES, passages=PASSAGES, cues=default_cues().route))


def test_a_name_phrase_of_the_title_names_the_case_in_any_letter_case() -> None:
    assert _names("What did Global Links achieve?") == ["4"]
    assert _names("how much did an SME get through innovation express?") == ["20"]
    assert sorted(_names("What does the Enterprise Europe Network offer?")) == ["7a", "7b"]


def test_an_acronym_names_the_case_and_an_ordinary_word_only_in_capitals() -> None:
    assert sorted(_names("Can the een help us?")) == ["7a", "7b"]
    assert _names("What did CREATE teach?") == ["14"]
    assert _names("Who led CReATE?") == ["14"]
    assert _names("How do clusters create value abroad?") == []


def test_phrases_that_are_not_names_of_the_case_do_not_route() -> None:
    # The start of many names, a lowercase phrase, and a phrase used only in the title.
    assert _names("Which European cluster programmes exist?") == []
    assert _names("Why does international collaboration matter?") == []
    assert _names("Should we stimulate international trade?") == []


def test_names_the_handbook_never_uses_are_reported() -> None:
    vocabulary = set(terms("cluster members website partners Brazil Enterprise Europe Network EEN"))
    assert unknown_names("Which Python web framework should we use for our cluster website?", vocabulary) == [
        "Python"
    ]
    assert unknown_names("What CRM software suits our members? Ask the EEN.", vocabulary) == ["CRM"]
    # Ordinary words, a sentence's first word, known names, two-letter shorthand and nationality words
    # (other countries are what internationalisation is about) are not reported.
    assert unknown_names("Should we look for Spanish or Japanese partners?", vocabulary) == []
    assert unknown_names("Bother! How do we befriend partners in Brazil with our PM tools?", vocabulary) == []


def _cue_data() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(default_cues_path().read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _load(data: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    path = tmp_path / "cues.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    load_cues(path)


def test_a_route_pattern_that_does_not_compile_is_an_error_naming_its_key(tmp_path: Path) -> None:
    data = _cue_data()
    data["route"]["what_next"] = r"\bwhat (now|next\b"
    with pytest.raises(CueError, match=r"cue 'route\.what_next': does not compile"):
        _load(data, tmp_path)


def test_the_route_section_forbids_unknown_keys_and_names_its_part_names(tmp_path: Path) -> None:
    data = _cue_data()
    data["route"]["what_nxt"] = r"\bwhat next\b"
    with pytest.raises(CueError, match=r"cue 'route\.what_nxt'"):
        _load(data, tmp_path)
    del data["route"]["what_nxt"]
    data["route"]["parts"]["glosary"] = data["route"]["parts"].pop("glossary")
    with pytest.raises(CueError, match=r"cue 'route\.parts\.glosary"):
        _load(data, tmp_path)

"""Gold dataset: format contract, loader errors, evidence matching and coverage of the project's gold set."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evals.dataset import (
    KINDS,
    PARTS,
    PERSONAS,
    DatasetError,
    GoldItem,
    dataset_sha256,
    load_dataset,
    missing_evidence,
)
from evals.matching import contains, tokens

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "evals" / "datasets" / "handbook.jsonl"
CORPUS = ROOT / "corpus" / "tactics-cluster-internationalisation-handbook.txt"


@pytest.fixture(scope="module")
def gold() -> list[GoldItem]:
    """The project's gold set, loaded once."""
    return load_dataset(GOLD)


@pytest.fixture(scope="module")
def corpus_text() -> str:
    """The handbook text as extracted (with its layout artifacts)."""
    return CORPUS.read_text(encoding="utf-8")


def _valid(**overrides: Any) -> dict[str, Any]:
    """A minimal valid item, with overrides."""
    base: dict[str, Any] = {
        "id": "x1",
        "persona": "cluster_manager",
        "kind": "fact",
        "question": "What is step 6 about?",
        "expected_parts": ["step-6"],
        "expected_cases": [],
        "evidence": ["Potential partners need to be complimentary rather than identical"],
        "expected_next_step": None,
        "reference_answer": "Identifying partners.",
    }
    base.update(overrides)
    return base


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ the gold set

DATASETS = sorted((ROOT / "evals" / "datasets").glob("*.jsonl"))


@pytest.mark.parametrize("path", DATASETS, ids=lambda p: p.name)
def test_every_shipped_dataset_is_valid_and_grounded(path: Path, corpus_text: str) -> None:
    """The gold set and the held-out set: they load, ids are unique, every snippet is in the handbook."""
    items = load_dataset(path)
    assert len({item.id for item in items}) == len(items)
    assert missing_evidence(items, corpus_text) == []
    for item in items:
        if item.kind == "out_of_scope" or item.expected_refusal:
            assert not item.evidence and not item.expected_parts, item.id
        elif item.kind in ("situation", "neutral"):  # scored on the journey condition, not on passages
            assert not item.evidence and (item.expected_condition is None) == (item.kind == "neutral"), (
                item.id
            )
        elif item.kind == "multi_turn" and item.expected_next_step is not None:
            assert not item.evidence, item.id
        elif item.kind != "adversarial":  # a false premise may have nothing to quote
            assert item.evidence and item.expected_parts, item.id


def test_gold_loads_with_enough_items(gold: list[GoldItem]) -> None:
    assert len(gold) >= 80


def test_gold_ids_unique(gold: list[GoldItem]) -> None:
    ids = [item.id for item in gold]
    assert len(ids) == len(set(ids))


def test_gold_evidence_is_in_corpus(gold: list[GoldItem], corpus_text: str) -> None:
    assert missing_evidence(gold, corpus_text) == []


def test_gold_grounded_items_have_evidence(gold: list[GoldItem]) -> None:
    for item in gold:
        told_or_asked = item.expected_refusal or item.kind in ("situation", "neutral")
        if item.kind not in ("out_of_scope", "adversarial") and not told_or_asked:
            if item.kind == "multi_turn" and item.expected_next_step is not None:
                continue  # a conversation that ends in a next step is scored on the step
            assert item.evidence and item.expected_parts, item.id
            assert 1 <= len(item.evidence) <= 2, item.id


def test_gold_covers_every_part_kind_and_persona(gold: list[GoldItem]) -> None:
    parts = {part for item in gold for part in item.expected_parts}
    assert parts >= set(PARTS) - {"linkology"}
    assert {item.kind for item in gold} == set(KINDS)
    assert {item.persona for item in gold} == set(PERSONAS)


def test_gold_next_step_items(gold: list[GoldItem]) -> None:
    next_items = [item for item in gold if item.kind == "next_step"]
    assert len(next_items) >= 12
    assert all(item.expected_next_step is not None for item in next_items)
    targets = {item.expected_next_step for item in next_items}
    assert {6, 3, 1} <= targets
    assert any(item.history for item in next_items)


def test_gold_out_of_scope_items(gold: list[GoldItem]) -> None:
    oos = [item for item in gold if item.kind == "out_of_scope"]
    assert len(oos) >= 8
    assert all(not item.evidence and not item.expected_parts and not item.expected_cases for item in oos)


def test_gold_kind_counts(gold: list[GoldItem]) -> None:
    kinds = Counter(item.kind for item in gold)
    assert kinds["adversarial"] >= 6
    assert kinds["case_lookup"] >= 10
    assert kinds["checklist"] >= 6


def test_dataset_sha256(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(_valid())])
    assert dataset_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ loader contract


@pytest.mark.parametrize(
    ("bad_line", "needle"),
    [
        ('{"id": "x2", "persona": ', "not valid JSON"),
        (json.dumps(_valid(id="x2", kind="trivia")), "field 'kind'"),
        (json.dumps(_valid(id="x2", current_step=11)), "field 'current_step'"),
        (json.dumps(_valid(id="x2", current_step=0)), "field 'current_step'"),
        (json.dumps(_valid(id="x2", expected_parts=["step-11"])), "field 'expected_parts"),
        (json.dumps(_valid(id="x2", expected_cases=["7"])), "field 'expected_cases"),
        (json.dumps(_valid(id="x2", kind="out_of_scope", expected_parts=[])), "field 'evidence'"),
        (json.dumps(_valid(id="x2", kind="out_of_scope", evidence=[])), "field 'expected_parts'"),
        (json.dumps(_valid(id="x2", persona="student")), "field 'persona'"),
        (json.dumps(_valid(id="x2", role="company")), "field 'role'"),
        (json.dumps(_valid(id="x2", kind="next_step")), "field 'expected_next_step'"),
        (json.dumps(_valid(id="x2", history=[{"role": "bot", "content": "hi"}])), "field 'history[0].role'"),
        (json.dumps({k: v for k, v in _valid(id="x2").items() if k != "question"}), "field 'question'"),
        (json.dumps(_valid()), "field 'id'"),  # duplicate of line 1
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_malformed_line_names_line_and_field(tmp_path: Path, bad_line: str, needle: str) -> None:
    # Line 1 valid, line 2 blank (still counted), line 3 bad, line 4 valid: the whole load fails.
    path = _write(tmp_path, [json.dumps(_valid()), "", bad_line, json.dumps(_valid(id="x3"))])
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    assert message.startswith("bad.jsonl line 3: ")
    assert needle in message
    assert "\n" not in message


def test_bad_kind_message_lists_choices(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(_valid(kind="trivia"))])
    with pytest.raises(
        DatasetError, match=r"line 1: field 'kind': must be one of fact, synthesis, paraphrase"
    ):
        load_dataset(path)


def test_unknown_fields_are_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(_valid(source="workshop-2024", difficulty=3))])
    (item,) = load_dataset(path)
    assert item.model_extra == {"source": "workshop-2024", "difficulty": 3}


def test_optional_fields_and_blank_lines(tmp_path: Path) -> None:
    line = _valid(
        kind="next_step",
        role="cluster_organisation",
        current_step=8,
        expected_next_step=6,
        history=[{"role": "user", "content": "We are implementing projects."}],
    )
    path = _write(tmp_path, ["", json.dumps(line), "   ", json.dumps(_valid(id="x2", role=None))])
    items = load_dataset(path)
    assert [item.id for item in items] == ["x1", "x2"]
    assert items[0].history[0].role == "user"
    assert items[0].expected_next_step == 6
    assert items[1].role is None and items[1].current_step is None and items[1].history == []


def test_out_of_scope_without_evidence_is_valid(tmp_path: Path) -> None:
    line = _valid(kind="out_of_scope", expected_parts=[], evidence=[], reference_answer="Not covered.")
    (item,) = load_dataset(_write(tmp_path, [json.dumps(line)]))
    assert item.kind == "out_of_scope"


# ------------------------------------------------------------------ matching rule


def test_hyphenated_line_break_is_joined() -> None:
    assert contains("internationalisation", "cluster interna-\ntionalisation is")
    assert contains("internationalisation", "interna- \n\n\ttionalisation")
    assert tokens("interna-\ntionalisation") == ["internationalisation"]


def test_hyphen_within_a_line_separates_tokens() -> None:
    assert tokens("Euro-Mediterranean cooperation") == ["euro", "mediterranean", "cooperation"]
    assert tokens("2006-\n2009") == ["2006", "2009"]


def test_nfkc_ligature_matches() -> None:
    assert contains("benefits", "the \ufb01rst bene\ufb01ts")
    assert contains("first", "\ufb01rst")


def test_tabs_and_punctuation_separate_tokens() -> None:
    assert contains("Key messages and practical", "•\t Key\tmessages\tand\tpractical\trecommendations")
    assert contains("“Why?” question", 'address the "Why?" question')
    assert contains("WHY question", "the why? question")


def test_non_contiguous_snippet_does_not_match() -> None:
    assert not contains("access to markets knowledge", "access to markets and to knowledge")
    assert not contains("both countries", "23both countries")  # page number glued to a word
    assert not contains("cluster", "clusters")


def test_empty_snippet_never_matches() -> None:
    assert not contains("", "anything")
    assert not contains(" - ", "anything - at all")

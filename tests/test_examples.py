"""The example data shipped under corpus/: valid, grounded in the handbook, and no copy of an eval item."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from assistant.journey import default_journey
from assistant.settings import Settings
from assistant.text import terms
from evals.dataset import load_dataset
from evals.matching import contains
from ingest.examples import (
    NEUTRAL,
    BankQuestion,
    ExampleError,
    OffTopicQuestion,
    load_examples,
    load_situations,
)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"


@pytest.fixture(scope="module")
def corpus_text() -> str:
    return (CORPUS / "tactics-cluster-internationalisation-handbook.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bank() -> list[BankQuestion]:
    return load_examples(CORPUS / "questions.jsonl", BankQuestion)


@pytest.fixture(scope="module")
def off_topic() -> list[OffTopicQuestion]:
    return load_examples(CORPUS / "out_of_scope.jsonl", OffTopicQuestion)


def shipped_messages() -> list[tuple[str, str]]:
    """(where, text) of every question and message the product ships as an example."""
    out = []
    for name, key in (("questions", "question"), ("out_of_scope", "question"), ("situations", "message")):
        for n, line in enumerate((CORPUS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines(), 1):
            out.append((f"{name}.jsonl:{n}", json.loads(line)[key]))
    return out


def eval_messages() -> list[tuple[str, str]]:
    """(where, text) of every user message of every evaluation set."""
    out = []
    for path in sorted((ROOT / "evals" / "datasets").glob("*.jsonl")):
        for item in load_dataset(path):
            out.append((f"{path.name}:{item.id}", item.question))
            out += [(f"{path.name}:{item.id}:history", t.content) for t in item.history if t.role == "user"]
    return out


def test_the_bank_covers_the_handbook_with_everyday_questions(
    bank: list[BankQuestion], corpus_text: str
) -> None:
    assert len(bank) >= 1000
    assert [b.quote for b in bank if not contains(b.quote, corpus_text)] == []
    assert Counter(b.style for b in bank)["everyday"] >= 0.6 * len(bank)
    assert set(Counter(b.persona for b in bank)) == {
        "cluster_manager",
        "policy_maker",
        "trainer",
        "evaluator",
    }


def test_out_of_scope_examples_are_grouped_near_misses(off_topic: list[OffTopicQuestion]) -> None:
    assert len(off_topic) >= 200
    assert sum(o.near_miss for o in off_topic) >= 0.6 * len(off_topic)
    assert len({o.topic for o in off_topic}) >= 8


def test_every_condition_has_situations_and_there_are_neutral_messages() -> None:
    journey = default_journey()
    found = Counter(
        s.condition for s in load_situations(CORPUS / "situations.jsonl", set(journey.conditions))
    )
    assert all(found[c] >= 15 for c in journey.conditions), found
    assert found[NEUTRAL] >= 60


def test_a_bad_example_line_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "situations.jsonl"
    path.write_text('{"condition": "project_unsuccessful", "message": "ok it died"}\n{"message": "x y z"}\n')
    with pytest.raises(ExampleError, match=r"situations.jsonl line 2: field 'condition'"):
        load_situations(path, {"project_unsuccessful"})
    path.write_text('{"condition": "it_broke", "message": "our project died"}\n')
    with pytest.raises(ExampleError, match="unknown condition 'it_broke': use one of"):
        load_situations(path, {"project_unsuccessful"})


def test_no_shipped_example_has_the_same_content_words_as_an_eval_item() -> None:
    evals = {frozenset(terms(text)): where for where, text in eval_messages() if terms(text)}
    copies = [
        (where, evals[key]) for where, text in shipped_messages() if (key := frozenset(terms(text))) in evals
    ]
    assert copies == []


@pytest.mark.slow
def test_no_shipped_example_is_a_near_paraphrase_of_an_eval_item() -> None:
    """Cosine below 0.9 with the bundled model between every shipped example and every eval message."""
    embedder = Settings().embedder()
    shipped, evals = shipped_messages(), eval_messages()
    a = np.array(embedder.embed_documents([t for _, t in shipped]))
    b = np.array(embedder.embed_documents([t for _, t in evals]))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    best = (a @ b.T).max(axis=1)
    close = [(shipped[i][0], shipped[i][1], round(float(best[i]), 3)) for i in np.flatnonzero(best >= 0.9)]
    assert close == []


@pytest.mark.slow
def test_every_passage_of_the_handbook_has_bank_questions(
    handbook_settings, bank: list[BankQuestion]
) -> None:  # type: ignore[no-untyped-def]
    """Each handbook chunk of substance holds the quote (or the start of the quote) of a bank question."""
    from evals.matching import tokens

    def padded(text: str, limit: int | None = None) -> str:
        return " " + " ".join(tokens(text)[:limit]) + " "

    starts = [padded(b.quote, 8) for b in bank]
    chunks = [row.chunk for row in handbook_settings.open_store().all() if row.chunk.part != "other"]
    bare = [c.chunk_id for c in chunks if len(c.text) >= 200 and not any(s in padded(c.text) for s in starts)]
    assert bare == []

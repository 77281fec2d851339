"""Scope by examples: users' own documents, the bank attached at ingest, post-2014 examples and task requests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingest.example_index import BANK, load_example_vectors

#: A member's guide to export customs: a topic the handbook does not cover (its questions are refused).
CUSTOMS_GUIDE = [
    "EXPORT CUSTOMS FOR CLUSTER MEMBERS",
    "",
    "A member company that exports machinery to Canada needs an export declaration, a commercial",
    "invoice, a packing list and a certificate of origin for the customs documents of each shipment.",
    "Customs clearance of a machinery export usually takes two to five working days when the",
    "customs documents are complete and the goods are classified with the right tariff code.",
    "The cluster office keeps template customs documents for members that export for the first time.",
]
CUSTOMS_QUESTIONS = [
    "Which customs documents does a member company need to export machinery to Canada?",
    "How long does customs clearance of a machinery export usually take?",
]


@pytest.mark.slow
def test_adding_a_document_makes_its_topic_answerable(handbook_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Customs questions are refused over the handbook alone and answered from the guide once it is added."""
    from pdfs import write_pdf

    from assistant.assistant import Assistant
    from ingest.pipeline import run_ingest

    settings = handbook_settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(handbook_settings.data_dir, settings.data_dir)
    before = Assistant.from_settings(settings)
    assert [before.ask(q).refused for q in CUSTOMS_QUESTIONS] == [True, True]

    settings.user_documents_dir.mkdir(parents=True, exist_ok=True)
    write_pdf(settings.user_documents_dir / "customs-guide.pdf", [CUSTOMS_GUIDE])
    summary = run_ingest(settings.default_sources(), settings.open_store(), settings.embedder())
    assert summary.ok and summary.chunks_added >= 1, summary.errors

    after = Assistant.from_settings(settings)
    for question in CUSTOMS_QUESTIONS:
        answer = after.ask(question)
        assert not answer.refused, question
        assert answer.citations and answer.citations[0].chunk_id.startswith("customs-guide.pdf"), question
        assert answer.scope is not None and answer.scope.covered


@pytest.mark.slow
def test_every_bank_question_is_attached_to_the_chunk_holding_its_quote(handbook_settings) -> None:  # type: ignore[no-untyped-def]
    """Ingest attaches each bank question to a chunk of the index whose text holds (the start of) its quote."""
    from evals.matching import contains, tokens

    store = handbook_settings.open_store()
    chunks = {row.chunk.chunk_id: row.chunk.text for row in store.all()}
    bank = load_example_vectors(store)[BANK]
    assert len(bank.texts) >= 1000 and len(bank.chunk_ids) == len(bank.texts)
    unattached = [q for q, cid in zip(bank.texts, bank.chunk_ids, strict=True) if cid not in chunks]
    assert unattached == []
    for quote, cid in zip(bank.labels, bank.chunk_ids, strict=True):
        assert contains(" ".join(tokens(quote)[:8]), chunks[cid]), (quote, cid)


@pytest.mark.slow
def test_a_bank_quote_in_no_chunk_is_named_at_ingest(tmp_path: Path) -> None:
    """A bank question whose quote is in no document: ingest warns with its line and the way out."""
    from assistant.settings import Settings
    from ingest.pipeline import run_ingest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "guide.txt").write_text(
        "STEP ONE\n\nClusters should first ask why they want to go international at all.\n", encoding="utf-8"
    )
    rows = [
        {"question": "Why go abroad?", "quote": "ask why they want to go international", "line": 3},
        {"question": "Who pays?", "quote": "Funding comes from the regional ministry", "line": 9},
    ]
    (corpus / "questions.jsonl").write_text(
        "".join(json.dumps({**r, "persona": "cluster_manager", "style": "everyday"}) + "\n" for r in rows),
        encoding="utf-8",
    )
    settings = Settings(data_dir=tmp_path / "data")
    summary = run_ingest([corpus], settings.open_store(), settings.embedder())
    assert summary.ok and summary.examples_rebuilt
    assert len(summary.warnings) == 1
    assert summary.warnings[0].startswith("questions.jsonl line 2: its quote is in no chunk")
    assert "run `handbook ingest` again" in summary.warnings[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "refused"),
    [
        ("How long are the Medicon Valley Alliance ambassadors placed abroad, and who pays for them?", False),
        ("How are the Medicon Valley ambassadors organised?", False),
        ("How many ambassadors does the Medicon Valley programme have today?", True),
        ("Has the Medicon Valley ambassador programme grown since 2015?", True),
    ],
)
def test_a_question_about_a_case_is_refused_as_after_the_handbook_only_when_it_speaks_of_time(
    assistant, question: str, refused: bool
) -> None:  # type: ignore[no-untyped-def]
    """The post-2014 examples share a case's topic: they count against a question on it only when it speaks of time."""
    assert assistant.ask(question).refused is refused


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "refused"),
    [
        ("Can you book us a hotel near the Heidelberg Innovation Forum for three nights?", True),
        ("Could you send an invitation to the Danish cluster for our call next week?", True),
        ("Can you explain what Step 6 is about?", False),
        ("Could you summarise the Medicon Valley case?", False),
    ],
)
def test_a_request_to_carry_out_a_task_is_refused_saying_so(assistant, question: str, refused: bool) -> None:  # type: ignore[no-untyped-def]
    """The assistant advises from the handbook; booking, sending or calling is refused with that reason."""
    answer = assistant.ask(question)
    assert answer.refused is refused
    if refused:
        assert answer.scope is not None and answer.scope.reason is not None and "task" in answer.scope.reason

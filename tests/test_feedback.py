"""The feedback store: SQLite in WAL mode, no secrets, concurrent writers, export as gold-item candidates."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.feedback import EVIDENCE_WORDS, THUMBS_DOWN, THUMBS_UP, FeedbackStore, public_settings
from assistant.settings import Settings
from evals.dataset import GoldItem
from ui.feedback_cli import feedback_app

LONG_QUOTE = " ".join(f"word{i}" for i in range(40))
CITATIONS = [
    {
        "n": 1,
        "chunk_id": "a",
        "quote": "Trust is built over time … between the partners",
        "part": "step-7",
        "case": None,
    },
    {"n": 2, "chunk_id": "b", "quote": LONG_QUOTE, "part": "step-6", "case": "5"},
    {"n": 3, "chunk_id": "c", "quote": "A user document.", "part": "other", "case": None},
]


def add(store: FeedbackStore, rating: int | None = THUMBS_UP, **extra: object) -> int:
    """Store one piece of feedback on a made-up answer."""
    fields: dict = {
        "question": "How do we build trust?",
        "answer": "Trust is built over time. [1]",
        "citations": CITATIONS,
        "rating": rating,
        "role": "policy_maker",
        "current_step": 7,
        "next_step": 8,
    }
    return store.add(**{**fields, **extra})


def test_rows_are_stored_and_updated(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    row = add(store, settings=Settings(data_dir=tmp_path))
    store.set_comment(row, "clear and cited")
    store.set_rating(row, THUMBS_DOWN)
    [stored] = store.all()
    assert (stored.id, stored.rating, stored.comment) == (row, THUMBS_DOWN, "clear and cited")
    assert stored.question == "How do we build trust?" and stored.citations == CITATIONS
    assert stored.settings["data_dir"] == str(tmp_path) and stored.created_at


def test_the_database_is_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    FeedbackStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_secrets_never_reach_the_database(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm_api_key="sk-very-secret")
    assert "llm_api_key" not in public_settings(settings)
    path = tmp_path / "feedback.sqlite3"
    add(FeedbackStore(path), settings=settings)
    assert b"sk-very-secret" not in path.read_bytes()


def test_a_rating_must_be_thumbs_up_or_down(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="thumbs"):
        add(FeedbackStore(tmp_path / "f.sqlite3"), rating=5)


def test_many_threads_write_at_once_and_no_row_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    FeedbackStore(path)
    threads, per_thread = 8, 40
    errors: list[BaseException] = []

    def write(n: int) -> None:
        store = FeedbackStore(path)  # as in the app: every session opens the store itself
        try:
            for i in range(per_thread):
                row = add(store, question=f"thread {n} question {i}")
                store.set_comment(row, f"comment {n}-{i}")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    rows = FeedbackStore(path).all()
    assert len(rows) == threads * per_thread
    assert len({r.id for r in rows}) == len(rows)
    assert {r.question for r in rows} == {
        f"thread {n} question {i}" for n in range(threads) for i in range(per_thread)
    }
    assert all(r.comment.startswith("comment ") for r in rows)


def test_export_writes_valid_gold_items(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    up = add(store, rating=THUMBS_UP, comment="good")
    down = add(store, rating=THUMBS_DOWN, role=None, next_step=None)
    out = tmp_path / "export" / "feedback.jsonl"
    assert store.export_jsonl(out) == 2
    items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for item in items:
        GoldItem.model_validate(item)  # the evaluation runner accepts them as they are
    first, second = items
    assert first["id"] == f"fb-{up}" and second["id"] == f"fb-{down}"
    assert first["persona"] == "policy_maker" and second["persona"] == "cluster_manager"
    assert first["kind"] == "fact" and first["role"] == "policy_maker" and first["current_step"] == 7
    assert first["expected_parts"] == ["step-7", "step-6"]  # "other" (user documents) is not a gold part
    assert first["expected_cases"] == ["5"]
    assert first["expected_next_step"] == 8 and second["expected_next_step"] is None
    assert first["evidence"][:2] == ["Trust is built over time", "between the partners"]
    assert all(len(e.split()) <= EVIDENCE_WORDS for e in first["evidence"])
    assert first["reference_answer"] == "Trust is built over time. [1]" and second["reference_answer"] == ""
    assert (first["rating"], first["comment"], second["rating"]) == ("up", "good", "down")
    assert first["created_at"]


def test_cli_exports_to_a_file_and_to_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDBOOK_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    missing = runner.invoke(feedback_app, ["export"])
    assert missing.exit_code == 1 and "no feedback yet" in missing.output
    add(FeedbackStore(tmp_path / "feedback.sqlite3"))
    out = tmp_path / "gold.jsonl"
    result = runner.invoke(feedback_app, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["id"] == "fb-1"
    printed = runner.invoke(feedback_app, ["export"])
    assert printed.exit_code == 0 and json.loads(printed.stdout.splitlines()[0])["question"]

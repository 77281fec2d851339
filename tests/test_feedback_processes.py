"""The feedback store under concurrent writers from several processes: no row is lost."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from assistant.feedback import FeedbackStore

WRITERS, ROWS = 6, 40


def write_rows(path: str, writer: int) -> None:
    store = FeedbackStore(path)
    for n in range(ROWS):
        store.add(question=f"q{writer}-{n}", answer="a", rating=1 if n % 2 else 0, comment=f"w{writer}")


def test_no_row_is_lost_with_concurrent_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "feedback.sqlite3")
    FeedbackStore(path)  # create the schema once, as the app does at start
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=write_rows, args=(path, w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    rows = FeedbackStore(path).all()
    assert len(rows) == WRITERS * ROWS
    assert {r.question for r in rows} == {f"q{w}-{n}" for w in range(WRITERS) for n in range(ROWS)}

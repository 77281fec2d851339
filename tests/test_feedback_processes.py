"""The feedback store under concurrent writers from several processes: no row is lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from assistant.feedback import FeedbackStore

WRITERS, ROWS = 6, 40
REPO = Path(__file__).resolve().parents[1]
# Each writer is a plain interpreter of its own (not multiprocessing: after Streamlit's AppTest has
# run, ``__main__`` is the app script, and spawned children would run the app again).
WRITER = """
import sys
from assistant.feedback import FeedbackStore
store = FeedbackStore(sys.argv[1])
for n in range(int(sys.argv[3])):
    store.add(question=f"q{sys.argv[2]}-{n}", answer="a", rating=n % 2, comment=f"w{sys.argv[2]}")
"""


def test_no_row_is_lost_with_concurrent_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "feedback.sqlite3")
    FeedbackStore(path)  # create the schema once, as the app does at start
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, path, str(w), str(ROWS)], cwd=REPO)
        for w in range(WRITERS)
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0
    rows = FeedbackStore(path).all()
    assert len(rows) == WRITERS * ROWS
    assert {r.question for r in rows} == {f"q{w}-{n}" for w in range(WRITERS) for n in range(ROWS)}

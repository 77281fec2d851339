"""Feedback on answers (thumbs up/down and a comment), kept in SQLite and exported as gold-item candidates."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.records import PARTS

#: ``st.feedback("thumbs")`` gives 0 for thumbs down and 1 for thumbs up; the store keeps the same values.
THUMBS_DOWN, THUMBS_UP = 0, 1
#: Evidence snippets of exported items are cut to this many words (gold evidence is short and verbatim).
EVIDENCE_WORDS = 25
# Settings whose name says they hold a secret are never written to the feedback file.
_SECRET = re.compile(r"key|secret|token|password", re.I)
# The evaluation dataset accepts only the handbook's parts; "other" marks user documents.
_GOLD_PARTS = frozenset(PARTS) - {"other"}
# Citations quote several passages of one chunk joined by this separator (see Assistant._citations).
_QUOTE_JOIN = " … "
_RATING_NAMES: dict[int | None, str] = {THUMBS_UP: "up", THUMBS_DOWN: "down"}
_BUSY_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',
    settings TEXT NOT NULL DEFAULT '{}',
    rating INTEGER,
    comment TEXT NOT NULL DEFAULT '',
    role TEXT,
    current_step INTEGER,
    next_step INTEGER
)
"""


@dataclass(frozen=True)
class FeedbackRow:
    """One stored piece of feedback."""

    id: int
    created_at: str
    question: str
    answer: str
    citations: list[dict[str, Any]]
    settings: dict[str, Any]
    rating: int | None
    comment: str
    role: str | None
    current_step: int | None
    next_step: int | None


def public_settings(settings: Mapping[str, Any] | Any) -> dict[str, Any]:
    """Settings as JSON-ready values, without secrets (API keys, tokens, passwords)."""
    raw = settings.model_dump(mode="json") if hasattr(settings, "model_dump") else dict(settings)
    return {k: v for k, v in raw.items() if not _SECRET.search(k)}


def shorten(text: str, limit: int = EVIDENCE_WORDS) -> str:
    """The first ``limit`` words of a text."""
    return " ".join(text.split()[:limit])


class FeedbackStore:
    """Feedback in one SQLite file (WAL mode, so the app's sessions can write at once)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short-lived connection per call: sqlite3 connections must not be shared across threads.
        db = sqlite3.connect(self.path, timeout=_BUSY_MS / 1000)
        try:
            db.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
            with db:  # commits, or rolls back on error
                yield db
        finally:
            db.close()

    def add(
        self,
        *,
        question: str,
        answer: str,
        citations: Sequence[Mapping[str, Any]] = (),
        settings: Mapping[str, Any] | Any = None,
        rating: int | None = None,
        comment: str = "",
        role: str | None = None,
        current_step: int | None = None,
        next_step: int | None = None,
    ) -> int:
        """Store feedback on one answer and return its row id."""
        row = (
            datetime.now(UTC).isoformat(timespec="seconds"),
            question,
            answer,
            json.dumps([dict(c) for c in citations], ensure_ascii=False),
            json.dumps(public_settings(settings) if settings is not None else {}, ensure_ascii=False),
            _rating(rating),
            comment,
            role,
            current_step,
            next_step,
        )
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO feedback (created_at, question, answer, citations, settings, rating, comment, "
                "role, current_step, next_step) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cursor.lastrowid or 0)

    def set_rating(self, row_id: int, rating: int | None) -> None:
        """Change the rating of stored feedback (None: the rating was taken back)."""
        with self._connect() as db:
            db.execute("UPDATE feedback SET rating = ? WHERE id = ?", (_rating(rating), row_id))

    def set_comment(self, row_id: int, comment: str) -> None:
        """Change the comment of stored feedback."""
        with self._connect() as db:
            db.execute("UPDATE feedback SET comment = ? WHERE id = ?", (comment, row_id))

    def all(self) -> list[FeedbackRow]:
        """Every stored row, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, created_at, question, answer, citations, settings, rating, comment, role, "
                "current_step, next_step FROM feedback ORDER BY id"
            ).fetchall()
        return [FeedbackRow(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), *r[6:]) for r in rows]

    def gold_items(self) -> list[dict[str, Any]]:
        """All feedback as evaluation-dataset items (``fb-<id>``), for review as new gold items."""
        return [gold_item(row) for row in self.all()]

    def export_jsonl(self, out_path: str | Path) -> int:
        """Write ``gold_items()`` as JSONL and return how many were written."""
        items = self.gold_items()
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
        return len(items)


def gold_item(row: FeedbackRow) -> dict[str, Any]:
    """One feedback row in the evaluation dataset format, plus rating, comment and created_at."""
    parts = [c.get("part") for c in row.citations]
    cases = [c.get("case") for c in row.citations]
    evidence = [
        shorten(piece)
        for c in row.citations
        for piece in str(c.get("quote") or "").split(_QUOTE_JOIN)
        if piece.strip()
    ]
    return {
        "id": f"fb-{row.id}",
        "persona": "policy_maker" if row.role == "policy_maker" else "cluster_manager",
        "kind": "fact",
        "question": row.question,
        "role": row.role,
        "current_step": row.current_step,
        "expected_parts": _unique(p for p in parts if p in _GOLD_PARTS),
        "expected_cases": _unique(c for c in cases if c),
        "evidence": _unique(evidence),
        "expected_next_step": row.next_step,
        "reference_answer": row.answer if row.rating == THUMBS_UP else "",
        "rating": _RATING_NAMES.get(row.rating),
        "comment": row.comment,
        "created_at": row.created_at,
    }


def _rating(value: int | None) -> int | None:
    if value not in (None, THUMBS_DOWN, THUMBS_UP):
        raise ValueError(
            f"rating must be {THUMBS_DOWN} (thumbs down) or {THUMBS_UP} (thumbs up), got {value!r}"
        )
    return value


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))

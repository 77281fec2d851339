"""Export a run for other evaluation tools, in their documented formats (without importing them).

* ``ragas``: JSONL, one ``SingleTurnSample`` per line (``user_input``, ``retrieved_contexts``,
  ``response``, ``reference``, ``reference_contexts`` = the gold evidence snippets); load it with
  ``ragas.EvaluationDataset.from_jsonl(path)``.
* ``deepeval``: a JSON list of ``LLMTestCase`` fields (``input``, ``actual_output``, ``expected_output``,
  ``retrieval_context``, ``context`` = the gold evidence snippets); load it with
  ``EvaluationDataset().add_test_cases_from_json_file(path, input_key_name="input", ...)``.

Both tools number rows, not items, so a side table ``ids.csv`` next to the export maps each row
(0-based, as ``dataset[i]``) to the gold item id.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from evals.report import load_items

Format = Literal["ragas", "deepeval"]
FORMATS: dict[str, str] = {"ragas": "ragas.jsonl", "deepeval": "deepeval.json"}
IDS_FILE = "ids.csv"


def ragas_rows(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """ragas single-turn samples of the run's items (also what the LLM judge scores)."""
    return [
        {
            "user_input": row["question"],
            "retrieved_contexts": [c["text"] for c in row["answer"]["retrieved"]],
            "response": row["answer"]["text"],
            "reference": row["gold"]["reference_answer"],
            "reference_contexts": list(row["gold"]["evidence"]),
        }
        for row in items
    ]


def deepeval_cases(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """deepeval test cases of the run's items."""
    return [
        {
            "input": row["question"],
            "actual_output": row["answer"]["text"],
            "expected_output": row["gold"]["reference_answer"],
            "retrieval_context": [c["text"] for c in row["answer"]["retrieved"]],
            "context": list(row["gold"]["evidence"]),
        }
        for row in items
    ]


def export_run(run_dir: str | Path, fmt: Format, out: str | Path | None = None) -> tuple[Path, Path]:
    """Write the export (default: inside the run directory) and ids.csv beside it; return both paths."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use {' or '.join(FORMATS)}")
    items = load_items(run_dir)
    path = Path(out) if out else Path(run_dir) / FORMATS[fmt]
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "ragas":
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ragas_rows(items)), encoding="utf-8"
        )
    else:
        path.write_text(json.dumps(deepeval_cases(items), ensure_ascii=False, indent=2), encoding="utf-8")
    ids = path.with_name(IDS_FILE)
    with ids.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "id"])
        writer.writerows((n, row["id"]) for n, row in enumerate(items))
    return path, ids

"""Run the answer-quality suite: every gold item through the real assistant, baselines, metrics, report.

``run_eval`` is the one entry point the CLI (``handbook eval run``), the tests and the UI's evaluation
page use. Step by step:

1. Load and validate the dataset, the baseline names and the thresholds: a bad input fails here,
   before any work.
2. Build ONE ``Assistant`` from the settings (with ``top_k`` = k), the object the UI uses.
3. For each item, rebuild its conversation: replay the user turns of its history through
   ``assistant.ask``, then set the item's role and current step, then ask the question.
4. Score every answer on every metric (``evals.metrics``), overall and by kind, persona and part.
5. Run the baselines over the same questions at the same depth and score their retrieval.
6. Optionally run the LLM judge, then gate on the thresholds and write the run directory.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from assistant.assistant import Assistant
from assistant.settings import Settings
from assistant.state import Answer, Turn
from assistant.verify import SUPPORT_METHOD
from evals import baselines as baseline_mod
from evals.dataset import KINDS, PARTS, PERSONAS, GoldItem, dataset_sha256, load_dataset
from evals.export import ragas_rows
from evals.metrics import Sample, ScoreTable, all_metrics, retrieval_metrics, score_samples
from evals.metrics.judge import JudgeResult, run_judge, skip_reason
from evals.report import (
    DEFAULT_THRESHOLDS,
    ITEMS_FILE,
    REPORT_FILE,
    BaselineReport,
    DatasetInfo,
    GroupItems,
    Report,
    check_thresholds,
    load_items,
    load_report,
    load_thresholds,
    write_report,
)

__all__ = ["Report", "latest_run", "load_items", "load_report", "run_eval"]

Progress = Callable[[int, int], None]
VERSIONED = (
    "chromadb",
    "sentence-transformers",
    "langchain-core",
    "langchain-text-splitters",
    "bm25s",
    "torch",
)
REPO_ROOT = Path(__file__).resolve().parents[1]
NO_PART = "(none)"


@dataclass
class Answered:
    """An item's answer, its latency and the error the assistant raised, if any."""

    item: GoldItem
    answer: Answer
    latency_ms: float
    error: str | None = None


def ask_item(assistant: Assistant, item: GoldItem) -> Answered:
    """Put the assistant in the item's conversation, then ask the item's question."""
    try:
        # The assistant's own replies are produced again, as in a real chat; the item's role and step win.
        turns = [Turn(role=t.role, content=t.content) for t in item.history]
        state = assistant.replay(turns, item.role, item.current_step)
        started = time.perf_counter()
        answer = assistant.ask(item.question, state)
        wall = (time.perf_counter() - started) * 1000
    except Exception as exc:  # one crashing question must not lose the run: it fails that item
        return Answered(item, Answer(question=item.question, text=""), 0.0, f"{type(exc).__name__}: {exc}")
    return Answered(item, answer, answer.timings_ms.get("total_ms", wall))


def default_run_dir(data_dir: Path, dataset_path: Path) -> Path:
    """``<data_dir>/evals/<UTC timestamp>-<dataset stem>``, made unique if a run of the same second exists."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path(data_dir) / "evals" / f"{stamp}-{Path(dataset_path).stem}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def latest_run(data_dir: str | Path) -> Path | None:
    """The most recently written run directory under ``<data_dir>/evals``, or None."""
    reports = list((Path(data_dir) / "evals").glob(f"*/{REPORT_FILE}"))
    return max(reports, key=lambda p: p.stat().st_mtime).parent if reports else None


def group_rows(items: Sequence[GoldItem]) -> dict[str, dict[str, list[int]]]:
    """Item indexes by kind, persona and expected part (an item counts for each of its parts)."""
    groups: dict[str, dict[str, list[int]]] = {"kind": {}, "persona": {}, "part": {}}
    for i, item in enumerate(items):
        groups["kind"].setdefault(item.kind, []).append(i)
        groups["persona"].setdefault(item.persona, []).append(i)
        parts: list[str] = list(item.expected_parts) or [NO_PART]
        for part in parts:
            groups["part"].setdefault(part, []).append(i)
    order = {"kind": KINDS, "persona": PERSONAS, "part": (*PARTS, NO_PART)}
    return {dim: {g: groups[dim][g] for g in order[dim] if g in groups[dim]} for dim in groups}


def _rounded(values: Mapping[str, float | None]) -> dict[str, float | None]:
    return {k: None if v is None else round(v, 6) for k, v in values.items()}


def breakdowns(
    table: ScoreTable, groups: Mapping[str, Mapping[str, list[int]]]
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Every metric aggregated over each group of each dimension."""
    return {dim: {g: _rounded(table.aggregate(rows)) for g, rows in by.items()} for dim, by in groups.items()}


def git_state(root: Path = REPO_ROOT) -> tuple[str | None, bool | None]:
    """The checked-out commit and whether tracked files differ from it (None, None outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


def versions() -> dict[str, str | None]:
    """Versions of the packages that decide the numbers, and of Python."""
    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def public_settings(settings: Settings) -> dict[str, Any]:
    """The settings as JSON, without secrets."""
    secret = {name for name in type(settings).model_fields if "key" in name or "secret" in name}
    return settings.model_dump(mode="json", exclude=secret)


def item_row(answered: Answered, table: ScoreTable, i: int, failures: list[str]) -> dict[str, Any]:
    """One line of items.jsonl."""
    item = answered.item
    return {
        "id": item.id,
        "kind": item.kind,
        "persona": item.persona,
        "question": item.question,
        "gold": item.model_dump(mode="json", exclude={"id", "kind", "persona", "question"}),
        "answer": answered.answer.model_dump(mode="json", exclude={"state"}),
        "metrics": _rounded(table.values(i)),
        "latency_ms": round(answered.latency_ms, 2),
        "passed": not failures,
        "failures": failures,
        "error": answered.error,
    }


def run_baselines(
    names: Sequence[str], items: Sequence[GoldItem], settings: Settings, k: int,
    groups: Mapping[str, Mapping[str, list[int]]], step: Callable[[], None],
) -> dict[str, BaselineReport]:  # fmt: skip
    """Each baseline's retrieval metrics over the same questions at depth k."""
    if not names:
        return {}
    chunks = baseline_mod.naive_chunks(settings.default_sources())
    out = {}
    for name in names:
        retriever = baseline_mod.build(name, chunks, settings.embedder())
        try:
            table = score_samples(retrieval_metrics(), baseline_mod.samples(retriever, chunks, items, k))
        finally:
            retriever.close()
        out[name] = BaselineReport(
            description=baseline_mod.BASELINES[name],
            chunks=len(chunks),
            metrics=_rounded(table.aggregate()),
            counts=table.counts(),
            breakdowns=breakdowns(table, groups),
        )
        step()
    return out


def run_eval(
    dataset_path: str | Path,
    settings: Settings,
    out_dir: str | Path | None = None,
    k: int = 10,
    baselines: Sequence[str] = ("naive", "bm25"),
    assistant: Assistant | None = None,
    progress: Progress | None = None,
    *,
    thresholds: str | Path = DEFAULT_THRESHOLDS,
    judge: bool = False,
) -> Report:
    """Evaluate the assistant on a gold dataset, write the run directory and return its report.

    Raises ``DatasetError``, ``UnknownBaseline`` or ``ThresholdError`` before any work, and
    ``IndexMissing`` when there is no index to evaluate.
    """
    started, created = time.perf_counter(), dt.datetime.now(dt.UTC)
    dataset_path = Path(dataset_path)
    items = load_dataset(dataset_path)
    names = baseline_mod.check_names(baselines)
    rules = load_thresholds(thresholds)
    settings = settings.model_copy(update={"top_k": k})
    if assistant is None:
        assistant = Assistant.from_settings(settings)
    elif assistant.settings.top_k != k:
        raise ValueError(
            f"the assistant retrieves top_k={assistant.settings.top_k}, not k={k}: build it with k"
        )
    run_dir = Path(out_dir) if out_dir else default_run_dir(settings.data_dir, dataset_path)
    run_dir.mkdir(parents=True, exist_ok=True)

    total, done = len(items) + len(names), 0

    def step() -> None:
        """Count one unit of work done and report progress."""
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    answered = []
    for item in items:
        answered.append(ask_item(assistant, item))
        step()

    embedder = settings.embedder()
    metrics = all_metrics(embedder, settings.support_threshold)
    table = score_samples(metrics, [Sample(a.item, a.answer, a.latency_ms, k) for a in answered])
    rows = []
    for i, a in enumerate(answered):
        failures = ([f"error: {a.error}"] if a.error else []) + table.failures[i]
        rows.append(item_row(a, table, i, failures))
    groups = group_rows(items)
    baseline_reports = run_baselines(names, items, settings, k, groups, step)

    judged = JudgeResult()
    if judge:
        reason = skip_reason(settings.llm)
        judged = (
            JudgeResult(status="skipped", reason=reason)
            if reason
            else run_judge(ragas_rows(rows), assistant.chat_model, embedder)
        )

    overall = _rounded(table.aggregate())
    gates = check_thresholds(rules, overall, {b: r.metrics for b, r in baseline_reports.items()})
    errored = [a.item.id for a in answered if a.error]
    commit, dirty = git_state()
    report = Report(
        run_dir=str(run_dir),
        created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        duration_s=round(time.perf_counter() - started, 1),
        dataset=DatasetInfo(path=str(dataset_path), sha256=dataset_sha256(dataset_path), items=len(items)),
        git_commit=commit,
        git_dirty=dirty,
        settings=public_settings(settings),
        versions=versions(),
        k=k,
        metrics=overall,
        counts=table.counts(),
        thresholds=gates,
        passed=not errored and all(g.status != "fail" for g in gates.values()),
        groundedness_method=SUPPORT_METHOD,
        items_passed=sum(row["passed"] for row in rows),
        failed_items=[row["id"] for row in rows if not row["passed"]],
        errored_items=errored,
        breakdowns=breakdowns(table, groups),
        breakdown_items={
            dim: {
                g: GroupItems(items=len(ix), passed=sum(rows[i]["passed"] for i in ix))
                for g, ix in by.items()
            }
            for dim, by in groups.items()
        },
        baselines=baseline_reports,
        judge=judged,
        definitions={m.name: m.description for m in metrics},
    )
    with (run_dir / ITEMS_FILE).open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    write_report(report, run_dir, rows)
    return report

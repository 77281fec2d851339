"""``handbook eval``: run the answer-quality suite, compare two runs, export a run for ragas or deepeval.

Exit codes of ``run``: 0 when every gate of the thresholds file holds, 1 when one fails, 2 when the
suite cannot run (bad dataset or thresholds file, no index, bad settings).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evals.report import DEFAULT_THRESHOLDS, Report, fmt, ratio

eval_app = typer.Typer(
    help="Evaluate answer quality offline: run the gold set, compare runs, export for ragas/deepeval.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


class ExportFormat(StrEnum):
    """The formats ``export`` writes."""

    ragas = "ragas"
    deepeval = "deepeval"


def _offline() -> None:
    # The suite must run on a laptop without network: the hub libraries must not even try.
    for key, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("TOKENIZERS_PARALLELISM", "false"),
        ("ANONYMIZED_TELEMETRY", "False"),
    ):
        os.environ.setdefault(key, value)


def _fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit (code 2) to raise."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _status(status: str) -> str:
    return {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]"}.get(status, "[dim]n/a[/dim]")


def print_summary(report: Report) -> None:
    """The metric table (value, gate, status, ratio to each baseline) and the verdict."""
    from evals.metrics import METRIC_NAMES, RETRIEVAL_NAMES

    names = list(report.baselines)
    table = Table(title=f"{report.dataset.path}: {report.dataset.items} items, k={report.k}")
    for column in ("metric", "value", "gate", "status", *(f"× {b}" for b in names)):
        table.add_column(column, justify="left" if column in ("metric", "status") else "right")
    extra = [m for m in report.thresholds if m not in METRIC_NAMES]
    for m in [*METRIC_NAMES, *extra]:
        gate = report.thresholds.get(m)
        value = report.metrics.get(m) if m in METRIC_NAMES else (gate.value if gate else None)
        ratios = [
            ratio(value, report.baselines[b].metrics.get(m)) if m in RETRIEVAL_NAMES else "" for b in names
        ]
        table.add_row(
            m, fmt(value, m), gate.text if gate else "", _status(gate.status) if gate else "", *ratios
        )
    console.print(table)
    hit5 = report.metrics.get("evidence_hit@5")
    for b in names:
        theirs = report.baselines[b].metrics.get("evidence_hit@5")
        diff = f"{hit5 - theirs:+.3f}" if hit5 is not None and theirs is not None else "—"
        console.print(f"evidence_hit@5: ours {fmt(hit5)} vs {b} {fmt(theirs)} (difference {diff})")
    budget = [f"ours {fmt(report.metrics.get('avg_retrieved_chars'), 'avg_retrieved_chars')}"] + [
        f"{b} {fmt(report.baselines[b].metrics.get('avg_retrieved_chars'), 'avg_retrieved_chars')}"
        for b in names
    ]
    console.print("avg_retrieved_chars (context budget): " + ", ".join(budget))
    failing = report.failed_items
    shown = " ".join(failing[:12]) + (" …" if len(failing) > 12 else "")
    console.print(
        f"items: {report.items_passed}/{report.dataset.items} pass"
        + (f" (failing: {shown})" if failing else "")
    )
    if report.errored_items:
        console.print(f"[red]the assistant raised an error on {', '.join(report.errored_items)}[/red]")
    console.print(f"report: {Path(report.run_dir) / 'report.html'}")
    broken = [m for m, g in report.thresholds.items() if g.status == "fail"]
    verdict = "[green]PASS[/green]" if report.passed else "[red]FAIL[/red]"
    console.print(verdict + (f": gates failing: {', '.join(broken)}" if broken else ""))


@eval_app.command("run")
def run(
    dataset: Annotated[Path, typer.Option("--dataset", help="Gold JSONL file.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Run directory (default: DATA_DIR/evals/<UTC time>-<dataset>)."),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=50, help="Retrieval depth (settings.top_k).")] = 10,
    baselines: Annotated[
        str,
        typer.Option(
            "--baselines", help="Comma-separated baselines to run too: naive, bm25; 'none' for none."
        ),
    ] = "naive,bm25",
    llm: Annotated[
        str | None, typer.Option("--llm", help="LLM setting for this run (none, ollama:<model>, …).")
    ] = None,
    judge: Annotated[
        bool, typer.Option("--judge", help="Also run ragas LLM-judged metrics (needs --llm and ragas).")
    ] = False,
    thresholds: Annotated[Path, typer.Option("--thresholds", help="Gates file.")] = DEFAULT_THRESHOLDS,
) -> None:
    """Run every gold item through the assistant and the baselines; write items.jsonl and the reports."""
    _offline()
    from pydantic import ValidationError

    from assistant.assistant import IndexMissing
    from assistant.llm import LLMConfigError
    from assistant.settings import Settings
    from evals.baselines import UnknownBaseline
    from evals.dataset import DatasetError
    from evals.report import ThresholdError
    from evals.run import run_eval
    from ingest.embed import EmbeddingModelError
    from ingest.store import StoreError

    names = [] if baselines.strip().lower() in ("", "none") else baselines.split(",")
    try:
        settings = Settings()
        if llm:
            settings = settings.model_copy(update={"llm": llm})
        with Progress(
            TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task("eval", total=None)
            report = run_eval(
                dataset, settings, out, k, names,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                thresholds=thresholds, judge=judge,
            )  # fmt: skip
    except (DatasetError, UnknownBaseline, ThresholdError, IndexMissing, StoreError) as exc:
        raise _fail(str(exc)) from exc
    except (EmbeddingModelError, LLMConfigError, ValidationError) as exc:
        raise _fail(str(exc).splitlines()[0]) from exc
    except Exception as exc:  # anything else is an error of the suite, not a failed gate
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    print_summary(report)
    if judge:
        console.print(f"judge metrics {report.judge.status}: {report.judge.reason}")
    raise typer.Exit(report.exit_code())


@eval_app.command("compare")
def compare(
    run_a: Annotated[Path, typer.Argument(help="The earlier run directory.")],
    run_b: Annotated[Path, typer.Argument(help="The later run directory.")],
) -> None:
    """Per-metric differences B − A and the items that went from pass to fail (and back)."""
    from evals.compare import compare_runs
    from evals.metrics import LOWER_IS_BETTER

    try:
        result = compare_runs(run_a, run_b)
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    if not result.same_dataset:
        console.print("[yellow]the runs used different datasets: differences mix two gold sets[/yellow]")
    table = Table(title=f"{run_a.name} → {run_b.name}")
    for column in ("metric", "A", "B", "B − A"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for d in result.metrics:
        delta = d.delta
        text = (
            "—"
            if delta is None
            else f"{delta:+,.0f}"
            if "latency" in d.metric or "chars" in d.metric
            else f"{delta:+.3f}"
        )
        better = delta is not None and (delta < 0 if d.metric in LOWER_IS_BETTER else delta > 0)
        worse = delta is not None and (delta > 0 if d.metric in LOWER_IS_BETTER else delta < 0)
        style = "green" if better else "red" if worse else ""
        table.add_row(
            d.metric, fmt(d.a, d.metric), fmt(d.b, d.metric), f"[{style}]{text}[/{style}]" if style else text
        )
    console.print(table)
    console.print(f"pass → fail ({len(result.newly_failing)}):")
    for item_id, reasons in result.newly_failing:
        console.print(f"  {item_id}: {'; '.join(reasons)}", highlight=False)
    console.print(f"fail → pass ({len(result.newly_passing)}): {' '.join(result.newly_passing)}")
    if result.only_in_a or result.only_in_b:
        console.print(
            f"only in A: {' '.join(result.only_in_a) or '—'}; only in B: {' '.join(result.only_in_b) or '—'}"
        )


@eval_app.command("export")
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    format: Annotated[ExportFormat, typer.Option("--format", help="ragas (JSONL) or deepeval (JSON).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output file (default: inside the run directory).")
    ] = None,
) -> None:
    """Write the run's items in ragas EvaluationDataset JSONL or deepeval test-case JSON, plus ids.csv."""
    from evals.export import export_run

    try:
        path, ids = export_run(run_dir, format.value, out)  # type: ignore[arg-type]
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"wrote {path} and {ids}")

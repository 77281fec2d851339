"""Benchmarks: ``handbook bench ingest`` (cold ingest vs. embedding alone), ``handbook bench query``
and ``handbook bench load``.

Both read ``Settings()`` (every ``HANDBOOK_`` variable applies), print a rich table, or the figures as
JSON with ``--json``. They are scripts, not timed tests: the figures depend on the machine.

* ``ingest`` loads the model once, then measures in the same run: the seconds for a cold ingest of
  the bundled handbook into a fresh temporary index, and the seconds for only embedding the same
  chunks (the same contextual texts, in batches of the same size). Target: ingest ≤ 1.5 × embedding.
* ``query`` opens the assistant on the configured index, makes one warm-up pass over the questions of
  the gold dataset, then times ``Assistant.retrieve`` and ``Assistant.ask`` (default, no LLM unless
  configured) per question. Target: p50 of a full answer ≤ 100 ms.
* ``load`` drives N concurrent conversations (threads sharing one assistant, then processes with one
  assistant each) against the configured index, local or a Chroma server (``HANDBOOK_CHROMA_HOST``),
  and reports answers per second and p50/p95 latency per level (``evals/loadtest.py``). Exit 1 when
  an answer under load differs from the single-user answer.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assistant.settings import REPO_ROOT, Settings
from ingest.embed import quiet_libraries

bench_app = typer.Typer(
    help="Benchmarks of the ingest, of query latency and of concurrent conversations.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True, soft_wrap=True)

INGEST_TARGET = 1.5  # cold ingest within this factor of embedding alone
ANSWER_P50_TARGET_MS = 100.0
DEFAULT_DATASET = REPO_ROOT / "evals" / "datasets" / "handbook.jsonl"
#: The pipeline embeds in batches of this many chunks (ingest/pipeline.py); embedding alone does too.
PIPELINE_BATCH = 64


JsonOption = Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")]
ThreadsOption = Annotated[
    int | None,
    typer.Option(min=1, help="torch threads per process (default: HANDBOOK_TORCH_THREADS or all cores)."),
]


def _settings(threads: int | None) -> Settings:
    """The settings from the environment, with ``--threads`` as ``torch_threads`` when given."""
    settings = Settings()
    return settings.model_copy(update={"torch_threads": threads}) if threads else settings


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation between the closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


# -- ingest ---------------------------------------------------------------------------------------


def bench_ingest(settings: Settings, repeat: int = 1) -> dict[str, Any]:
    """Cold ingest of the handbook vs. embedding the same chunks alone; returns the figures."""
    from ingest.chunk import contextual_text
    from ingest.load import discover
    from ingest.pipeline import prepare

    sources = [settings.corpus_dir]
    files, errors = discover(sources)
    if errors or not files:
        raise typer.BadParameter(
            f"no corpus to ingest at {settings.corpus_dir}: {'; '.join(map(str, errors))}"
        )

    embedder = settings.embedder()
    # The same contextual texts the pipeline embeds (a cold ingest embeds every chunk).
    chunks = [c for path in files for c in prepare(path, settings.chunk_size, settings.chunk_overlap).chunks]
    texts = [contextual_text(c) for c in chunks]
    embedder.embed_documents(texts[:PIPELINE_BATCH])  # warm-up: weights, tokenizer, first allocations

    def embed_only() -> None:
        for start in range(0, len(texts), PIPELINE_BATCH):
            embedder.embed_documents(texts[start : start + PIPELINE_BATCH])

    runs: list[dict[str, float]] = []
    for n in range(repeat):
        # alternate the order, so that a machine that speeds up or slows down favours neither
        if n % 2 == 0:
            embed_seconds, _ = _timed(embed_only)
            ingest_seconds, phases = _cold_ingest(settings, sources, embedder, len(chunks))
        else:
            ingest_seconds, phases = _cold_ingest(settings, sources, embedder, len(chunks))
            embed_seconds, _ = _timed(embed_only)
        runs.append(
            {
                "ingest_s": ingest_seconds,
                "embed_s": embed_seconds,
                "ratio": ingest_seconds / embed_seconds,
                **phases,
            }
        )

    ingest_s = statistics.median(r["ingest_s"] for r in runs)
    embed_s = statistics.median(r["embed_s"] for r in runs)
    return {
        "chunks": len(chunks),
        "batch_size": PIPELINE_BATCH,
        "repeat": repeat,
        "ingest_seconds": round(ingest_s, 3),
        "embed_only_seconds": round(embed_s, 3),
        "ratio": round(ingest_s / embed_s, 3) if embed_s else None,
        "target_ratio": INGEST_TARGET,
        "within_target": bool(embed_s and ingest_s / embed_s <= INGEST_TARGET),
        "ingest_phases_seconds": {
            k: round(statistics.median(r[k] for r in runs), 3)
            for k in ("read_s", "embed_phase_s", "publish_s")
        },
        "embedding_model": embedder.name,
        "torch_threads": _torch_threads(),
        "store": "server" if settings.chroma_host else "local",
        "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
    }


def _cold_ingest(
    settings: Settings, sources: list[Path], embedder: Any, expected_chunks: int
) -> tuple[float, dict[str, float]]:
    """One timed ingest into an empty index (store opening included); returns seconds and phases."""
    from ingest.pipeline import run_ingest

    marks: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory(prefix="handbook-bench-") as tmp:
        cold = _cold_settings(settings, Path(tmp))
        started = time.perf_counter()

        def progress(label: str, done: int, total: int) -> None:
            marks.append((time.perf_counter() - started, label.split(" ", 1)[0]))

        try:
            store = cold.open_store()
            summary = run_ingest(
                sources, store, embedder, cold.chunk_size, cold.chunk_overlap, progress=progress
            )
            seconds = time.perf_counter() - started
        finally:
            _drop_server_collections(cold)
    if not summary.ok or summary.total_chunks != expected_chunks:
        raise RuntimeError(f"the benchmark ingest did not index the handbook: {summary.line()}")
    return seconds, _phases(marks, seconds)


def _cold_settings(settings: Settings, tmp: Path) -> Settings:
    """The same settings with an empty index: a fresh local folder, or a fresh collection on the server."""
    update: dict[str, Any] = {"data_dir": tmp, "chroma_path": None, "documents_dir": tmp / "no-documents"}
    if settings.chroma_host:
        update["collection"] = f"bench-{uuid.uuid4().hex[:8]}"
    return settings.model_copy(update=update)


def _drop_server_collections(settings: Settings) -> None:
    if not settings.chroma_host:
        return
    store = settings.open_store()
    for collection in store.client.list_collections():
        name = collection if isinstance(collection, str) else collection.name
        if name == settings.collection or name.startswith(f"{settings.collection}-"):
            store.client.delete_collection(name)


def _phases(marks: list[tuple[float, str]], total: float) -> dict[str, float]:
    """Seconds spent reading (load, segment, chunk), embedding and publishing, from the progress calls."""
    first = {label: t for t, label in reversed(marks)}
    embed_at = first.get("embedding", total)
    publish_at = first.get("publishing", total)
    return {"read_s": embed_at, "embed_phase_s": publish_at - embed_at, "publish_s": total - publish_at}


@bench_app.command("ingest")
def ingest_command(
    as_json: JsonOption = False,
    repeat: Annotated[int, typer.Option(min=1, help="Runs; the median is reported.")] = 1,
    threads: ThreadsOption = None,
) -> None:
    """Seconds for a cold ingest of the handbook vs. embedding the same chunks alone."""
    quiet_libraries()
    figures = bench_ingest(_settings(threads), repeat)
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    table = Table(title=f"Cold ingest of the handbook (torch threads: {figures['torch_threads']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("chunks", str(figures["chunks"]))
    table.add_row("cold ingest (s)", f"{figures['ingest_seconds']:.2f}")
    table.add_row("embedding alone (s)", f"{figures['embed_only_seconds']:.2f}")
    ok = "[green]ok[/green]" if figures["within_target"] else "[red]above target[/red]"
    table.add_row(f"ratio (target ≤ {INGEST_TARGET})", f"{figures['ratio']:.2f} {ok}")
    for name, seconds in figures["ingest_phases_seconds"].items():
        table.add_row(f"  ingest phase {name.removesuffix('_s')} (s)", f"{seconds:.2f}")
    console.print(table)


# -- query ----------------------------------------------------------------------------------------


def bench_query(
    settings: Settings, dataset: Path = DEFAULT_DATASET, limit: int | None = None
) -> dict[str, Any]:
    """Warm p50/p95 latency of retrieval alone and of a full default answer over the gold questions."""
    from assistant.assistant import Assistant
    from assistant.state import ConversationState
    from evals.dataset import load_dataset

    items = load_dataset(dataset)[:limit]
    assistant = Assistant.from_settings(settings, build_if_missing=True)

    def state(item: Any) -> ConversationState:
        return ConversationState(role=item.role, current_step=item.current_step)

    for item in items:  # warm-up pass: caches, lazy imports, the model's first calls
        assistant.retrieve(item.question)
        assistant.ask(item.question, state(item))

    retrieve_ms: list[float] = []
    answer_ms: list[float] = []
    for item in items:
        started = time.perf_counter()
        assistant.retrieve(item.question)
        retrieve_ms.append((time.perf_counter() - started) * 1000)
    for item in items:
        conversation = state(item)
        started = time.perf_counter()
        assistant.ask(item.question, conversation)
        answer_ms.append((time.perf_counter() - started) * 1000)

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(percentile(values, 50), 2),
            "p95_ms": round(percentile(values, 95), 2),
            "mean_ms": round(statistics.fmean(values), 2),
            "max_ms": round(max(values), 2),
        }

    answer = stats(answer_ms)
    return {
        "questions": len(items),
        "dataset": str(dataset),
        "llm": settings.llm,
        "torch_threads": _torch_threads(),
        "retrieve": stats(retrieve_ms),
        "answer": answer,
        "target_answer_p50_ms": ANSWER_P50_TARGET_MS,
        "within_target": answer["p50_ms"] <= ANSWER_P50_TARGET_MS,
    }


@bench_app.command("query")
def query_command(
    as_json: JsonOption = False,
    dataset: Annotated[Path, typer.Option(help="Gold JSONL whose questions are timed.")] = DEFAULT_DATASET,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions.")] = None,
    threads: ThreadsOption = None,
) -> None:
    """Warm p50/p95 latency of retrieval alone and of a full default answer."""
    quiet_libraries()
    figures = bench_query(_settings(threads), dataset, limit)
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    table = Table(
        title=f"Warm latency over {figures['questions']} questions "
        f"(llm: {figures['llm']}, torch threads: {figures['torch_threads']})"
    )
    for column in ("", "p50 ms", "p95 ms", "mean ms", "max ms"):
        table.add_column(column, justify="right" if column else "left")
    for name, key in (
        ("retrieval (assistant.retrieve)", "retrieve"),
        ("full answer (assistant.ask)", "answer"),
    ):
        row = figures[key]
        table.add_row(name, *(f"{row[k]:.1f}" for k in ("p50_ms", "p95_ms", "mean_ms", "max_ms")))
    console.print(table)
    ok = "[green]ok[/green]" if figures["within_target"] else "[red]above target[/red]"
    console.print(f"target: full answer p50 ≤ {ANSWER_P50_TARGET_MS:.0f} ms — {ok}")


# -- load -----------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of numbers, e.g. 1,4,16") from None
    if not values or min(values) < 1:
        raise typer.BadParameter(f"{text!r}: give one or more positive numbers, e.g. 1,4,16")
    return values


def _modes(text: str) -> list[str]:
    from evals.loadtest import MODES

    values = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [m for m in values if m not in MODES]
    if unknown or not values:
        raise typer.BadParameter(f"{text!r}: use {', '.join(MODES)} (comma-separated)")
    return values


def bench_load(
    settings: Settings,
    levels: Sequence[int] = (1, 4, 16),
    modes: Sequence[str] = ("threads", "processes"),
    rounds: int = 1,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Concurrent conversations at each level and mode (``evals.loadtest.run_load``); returns the figures."""
    from assistant.assistant import Assistant
    from evals.loadtest import DEFAULT_CONVERSATIONS, run_load

    assistant = Assistant.from_settings(settings)
    load_before = _load_average()
    started = time.perf_counter()
    results = run_load(
        settings,
        DEFAULT_CONVERSATIONS,
        levels,
        modes,
        assistant=assistant,
        rounds=rounds,
        progress=progress,
    )
    return {
        "store": "server" if settings.chroma_host else "local",
        "location": assistant.index.store.location,
        "conversations": len(DEFAULT_CONVERSATIONS),
        "turns": sum(len(c) for c in DEFAULT_CONVERSATIONS),
        "rounds": rounds,
        "llm": settings.llm,
        "torch_threads": _torch_threads(),
        "cpus": os.cpu_count(),
        "seconds": round(time.perf_counter() - started, 2),
        # other work on the machine skews the figures: the 1-minute load average before and after
        "load_average": {"before": load_before, "after": _load_average()},
        "levels": _level_rows(results),
        "mismatches": sum(r.mismatches for r in results),
    }


def _level_rows(results: Sequence[Any]) -> list[dict[str, Any]]:
    """The figures of each level (``LevelResult``) as JSON-ready rows."""
    return [
        {
            "mode": r.mode,
            "workers": r.workers,
            "answers": r.answers,
            "seconds": round(r.seconds, 3),
            "answers_per_s": round(r.throughput, 2),
            "p50_ms": round(r.p50_ms, 1),
            "p95_ms": round(r.p95_ms, 1),
            "mismatches": r.mismatches,
            "mismatched_questions": r.mismatched_questions,
            "mismatch_examples": r.mismatch_examples,
            "start_seconds": round(r.start_seconds, 2),
        }
        for r in results
    ]


def api_key_from_environment() -> str | None:
    """The key for ``--http``: ``HANDBOOK_API_KEY``, else the first of ``HANDBOOK_API_KEYS`` (never printed)."""
    single = os.environ.get("HANDBOOK_API_KEY", "").strip()
    several = [k.strip() for k in os.environ.get("HANDBOOK_API_KEYS", "").split(",") if k.strip()]
    return single or (several[0] if several else None)


def bench_load_http(
    url: str, levels: Sequence[int] = (1, 4, 16), progress: Callable[[str, int], None] | None = None
) -> dict[str, Any]:
    """Concurrent conversations against a running ``handbook serve`` (``evals.loadtest.run_load_http``)."""
    from evals.loadtest import DEFAULT_CONVERSATIONS, run_load_http

    load_before = _load_average()
    started = time.perf_counter()
    results = run_load_http(url, DEFAULT_CONVERSATIONS, levels, api_key_from_environment(), progress)
    return {
        "store": "http",
        "location": url,
        "conversations": len(DEFAULT_CONVERSATIONS),
        "turns": sum(len(c) for c in DEFAULT_CONVERSATIONS),
        "rounds": 1,
        "llm": "(the server's)",
        "torch_threads": "(the server's)",
        "cpus": os.cpu_count(),
        "seconds": round(time.perf_counter() - started, 2),
        "load_average": {"before": load_before, "after": _load_average()},
        "levels": _level_rows(results),
        "mismatches": sum(r.mismatches for r in results),
    }


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # not available on this platform
        return None


@bench_app.command("load")
def load_command(
    levels: Annotated[str, typer.Option(help="Concurrent conversations, comma-separated.")] = "1,4,16",
    modes: Annotated[
        str, typer.Option(help="threads (one shared assistant), processes (one each), comma-separated.")
    ] = "threads,processes",
    rounds: Annotated[
        int, typer.Option(min=1, help="At level N, the conversations are answered N × ROUNDS times.")
    ] = 1,
    out: Annotated[Path | None, typer.Option(help="Also write the figures to this JSON file.")] = None,
    as_json: JsonOption = False,
    threads: ThreadsOption = None,
    http: Annotated[
        str | None,
        typer.Option(
            help="A running `handbook serve` (e.g. http://127.0.0.1:8000): drive it over HTTP instead."
        ),
    ] = None,
) -> None:
    """Throughput and p50/p95 latency of N concurrent conversations; exit 1 if an answer changes."""
    from concurrent.futures.process import BrokenProcessPool
    from threading import BrokenBarrierError

    from assistant.assistant import IndexMissing
    from ingest.embed import EmbeddingModelError
    from ingest.store import StoreError

    level_list, mode_list = _int_list(levels), _modes(modes)
    quiet_libraries()
    settings = _settings(threads)

    def progress(mode: str, n: int) -> None:
        if not as_json:
            err.print(f"[dim]{mode}: {n} concurrent conversation(s)…[/dim]", highlight=False)

    try:
        if http:
            figures = _bench_http(http, level_list, progress)
        else:
            figures = bench_load(settings, level_list, mode_list, rounds, progress)
    except (IndexMissing, StoreError, EmbeddingModelError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    except (BrokenProcessPool, BrokenBarrierError) as exc:
        # the worker's own traceback is above, on stderr
        err.print(
            f"[red]error:[/red] a worker process failed to start ({type(exc).__name__})", highlight=False
        )
        raise typer.Exit(2) from None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print(json.dumps(figures, indent=2))
    else:
        print_load(figures)
    if figures["mismatches"]:
        raise typer.Exit(1)


def _bench_http(url: str, levels: Sequence[int], progress: Callable[[str, int], None]) -> dict[str, Any]:
    """``bench_load_http``, with a one-line error when the service cannot be reached or refuses."""
    import httpx

    from evals.loadtest import HttpLoadError

    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint="--http")
    try:
        return bench_load_http(url, levels, progress)
    except httpx.TransportError as exc:
        err.print(
            f"[red]error:[/red] cannot reach {escape(url)} ({type(exc).__name__}): is `handbook serve` running?"
        )
    except HttpLoadError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
    raise typer.Exit(2)


def print_load(figures: dict[str, Any]) -> None:
    """The load table and the verdict."""
    store = {"server": "Chroma server", "http": "HTTP service"}.get(figures["store"], "local index")
    load = figures["load_average"]
    table = Table(
        title=f"Concurrent conversations against the {store} at {figures['location']} "
        f"({figures['conversations']} conversations of {figures['turns']} answers × N × {figures['rounds']} "
        f"round(s); {figures['cpus']} CPUs, torch threads: {figures['torch_threads']})",
        caption=f"whole run {figures['seconds']:.1f} s (process start and warm-up not in 'seconds'); "
        f"load average {load['before']} before, {load['after']} after",
    )
    columns = ("mode", "N", "answers", "seconds", "answers/s", "p50 ms", "p95 ms", "mismatches")
    for column in columns:
        table.add_column(column, justify="left" if column == "mode" else "right")
    for row in figures["levels"]:
        bad = row["mismatches"]
        table.add_row(
            row["mode"],
            str(row["workers"]),
            str(row["answers"]),
            f"{row['seconds']:.2f}",
            f"{row['answers_per_s']:.1f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p95_ms']:.1f}",
            f"[red]{bad}[/red]" if bad else "0",
        )
    console.print(table)
    for row in figures["levels"]:
        if row["mismatches"]:
            questions = "; ".join(row["mismatched_questions"])
            console.print(
                f"[red]{row['mode']} × {row['workers']}: {row['mismatches']} answer(s) differ from the "
                f"single-user answer[/red] ({escape(questions)})",
                highlight=False,
                soft_wrap=True,
            )
    if not figures["mismatches"]:
        console.print("[green]every answer equals the single-user answer[/green]")


def main() -> None:
    """``python -m evals.bench ingest|query|load``."""
    bench_app()


if __name__ == "__main__":
    main()


__all__ = ["bench_app", "bench_ingest", "bench_load", "bench_query", "percentile"]

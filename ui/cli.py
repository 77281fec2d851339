"""The ``handbook`` command line: ingest, inspect the index, ask, chat, evaluate, benchmark, run the app."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assistant.settings import Settings
from ingest.embed import quiet_libraries

app = typer.Typer(help="TACTICS Handbook Assistant.", no_args_is_help=True, add_completion=False)
# soft_wrap: a one-line message stays one line when the output is not a terminal.
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: the corpus).")
    ] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything from scratch.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Remove chunks of files that are gone.")] = False,
) -> None:
    """Read PDFs, text and Markdown into the index (only what changed is embedded)."""
    from ingest.embed import EmbeddingModelError
    from ingest.pipeline import run_ingest
    from ingest.store import StoreError

    quiet_libraries()
    settings = Settings()
    sources = list(paths) if paths else settings.default_sources()
    try:
        store = settings.open_store()
        embedder = settings.embedder()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("ingest", total=1)

            def progress(label: str, done: int, total: int) -> None:
                bar.update(task, description=label, completed=done, total=max(total, 1))

            summary = run_ingest(
                sources,
                store,
                embedder,
                settings.chunk_size,
                settings.chunk_overlap,
                rebuild,
                prune,
                progress,
            )
    except (StoreError, EmbeddingModelError) as exc:
        raise fail(str(exc)) from None
    for line in summary.errors:
        err.print(f"[red]failed:[/red] {escape(line)}", highlight=False)
    for line in summary.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False)
    console.print(escape(summary.line()), highlight=False)
    if summary.errors:
        raise typer.Exit(1)


@app.command()
def index(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Show what is indexed: documents, chunks per part and per case, the embedding model."""
    from ingest.store import StoreError

    settings = Settings()
    try:
        store = settings.open_store()
        rows = store.all()
        structure = store.structure()
        model = store.embedding_model()
    except StoreError as exc:
        raise fail(str(exc)) from None
    docs = Counter(r.chunk.doc_id for r in rows)
    report = {
        "documents": [
            {"doc_id": d, "chunks": n, "source": structure.get(d, {}).get("source")}
            for d, n in sorted(docs.items())
        ],
        "chunks": len(rows),
        "parts": dict(sorted(Counter(r.chunk.part for r in rows).items())),
        "cases": dict(
            sorted(Counter(r.chunk.case_id for r in rows if r.chunk.case_id).items(), key=_case_order)
        ),
        "embedding_model": model,
        "location": store.location,
    }
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    if not rows:
        console.print("The index is empty: run `handbook ingest`.")
        return
    console.print(f"{len(rows)} chunks from {len(docs)} document(s) at {store.location}, model {model}")
    for title, counts in (("Documents", docs), ("Parts", report["parts"]), ("Cases", report["cases"])):
        table = Table(title=title)
        table.add_column(title[:-1].lower())
        table.add_column("chunks", justify="right")
        for key, n in counts.items():
            table.add_row(str(key), str(n))
        console.print(table)


def _case_order(item: tuple[str, int]) -> tuple[int, str]:
    key = item[0]
    digits = "".join(c for c in key if c.isdigit())
    return (int(digits) if digits else 999, key)


def _assistant(settings: Settings):  # type: ignore[no-untyped-def]
    """Build the assistant or exit with a one-line message saying what to run."""
    from assistant.assistant import Assistant, IndexMissing
    from assistant.llm import LLMConfigError
    from ingest.embed import EmbeddingModelError
    from ingest.store import StoreError

    quiet_libraries()
    try:
        return Assistant.from_settings(settings)
    except (IndexMissing, StoreError, EmbeddingModelError, LLMConfigError) as exc:
        raise fail(str(exc), 2) from None


def _state(role: str | None, step: int | None):  # type: ignore[no-untyped-def]
    from assistant.state import ROLES, STEP_NUMBERS, ConversationState

    if role is not None and role not in ROLES:
        raise fail(f"unknown role {role!r}: use {' or '.join(ROLES)}", 2)
    if step is not None and step not in STEP_NUMBERS:
        raise fail(
            f"step {step} is not a step of the journey: use {STEP_NUMBERS[0]} to {STEP_NUMBERS[-1]}", 2
        )
    return ConversationState(role=role, current_step=step)  # type: ignore[arg-type]


def _history(path: Path):  # type: ignore[no-untyped-def]
    """The turns of a --history file; a bad file is a one-line error naming the problem."""
    from pydantic import TypeAdapter, ValidationError

    from assistant.state import Turn

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return TypeAdapter(list[Turn]).validate_python(raw)
    except OSError as exc:
        raise fail(f"cannot read the history file {path}: {exc.strerror or exc}", 2) from None
    except json.JSONDecodeError as exc:
        raise fail(f"{path} is not JSON ({exc.msg} at line {exc.lineno}): give a list of turns", 2) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "the file"
        raise fail(
            f'{path}: {where}: {first["msg"]}: give a JSON list of {{"role": "user" or "assistant", "content": "…"}}',
            2,
        ) from None


def print_choices(answer) -> None:  # type: ignore[no-untyped-def]
    """The conditions an answer offers, numbered: the user replies with a number (or in words)."""
    for n, choice in enumerate(answer.choices, start=1):
        console.print(f"  [bold]{n}.[/bold] {escape(choice.label)} (Step {choice.step})", highlight=False)


def print_answer(answer, show_sources: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Print an answer with its citations for people."""
    style = "yellow" if answer.refused else ""
    console.print(escape(answer.text), style=style, highlight=False)
    if answer.notice:
        console.print(f"[dim]{escape(answer.notice)}[/dim]")
    print_choices(answer)
    if answer.next_step:
        ns = answer.next_step
        console.print(f"\n[bold]Next step:[/bold] Step {ns.step} – {escape(ns.title)}", highlight=False)
    if show_sources and answer.citations:
        console.print("\n[bold]Sources[/bold]")
        for c in answer.citations:
            where = f"lines {c.line_start}–{c.line_end}" if c.page is None else f"page {c.page}"
            console.print(f"[cyan][{c.n}][/cyan] {escape(c.heading)} ({where})", highlight=False)
            console.print(f"    [dim]“{escape(c.quote[:300])}”[/dim]", highlight=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question about the handbook.")],
    role: Annotated[str | None, typer.Option(help="cluster_organisation or policy_maker.")] = None,
    step: Annotated[int | None, typer.Option(help="The journey step you are at (1–10).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON (see README).")] = False,
    history: Annotated[
        Path | None,
        typer.Option(
            help='The conversation before the question: a JSON list of {"role": "user"|"assistant", "content": …}.'
        ),
    ] = None,
) -> None:
    """Ask one question; the answer cites the handbook."""
    settings = Settings()
    state = _state(role, step)
    turns = _history(history) if history else []
    assistant = _assistant(settings)
    if turns:
        state = assistant.replay(turns, state.role, state.current_step)
    answer = assistant.ask(question, state)
    if as_json:
        print(answer.model_dump_json(indent=2, exclude={"state"}))
    else:
        print_answer(answer)


@app.command()
def chat(
    role: Annotated[str | None, typer.Option(help="cluster_organisation or policy_maker.")] = None,
    step: Annotated[int | None, typer.Option(help="The journey step you are at (1–10).")] = None,
) -> None:
    """Talk with the assistant in the terminal (empty line or Ctrl+D to quit)."""
    settings = Settings()
    state = _state(role, step)
    assistant = _assistant(settings)
    console.print("Ask about the Cluster Internationalisation Handbook. An empty line quits.")
    while True:
        try:
            question = console.input("[bold green]you>[/bold green] ")
        except (EOFError, KeyboardInterrupt):
            break
        if not question.strip():
            break
        answer = assistant.ask(question, state)
        state = answer.state
        print_answer(answer)
        console.print()


@app.command("app")
def run_app(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    address: Annotated[
        str, typer.Option(help="Address to bind (loopback unless you choose otherwise).")
    ] = "127.0.0.1",
) -> None:
    """Start the Streamlit app (builds the index on first run)."""
    import subprocess

    from assistant.settings import REPO_ROOT

    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO_ROOT / "ui" / "app.py"),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.headless",
        "true",
    ]
    console.print(f"Open http://{address}:{port} in your browser (Ctrl+C stops the app).")
    raise typer.Exit(subprocess.call(cmd, cwd=REPO_ROOT))


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind (loopback unless you choose otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes, one assistant each.")] = 1,
) -> None:
    """Serve the assistant over HTTP: OpenAI-compatible /v1/chat/completions and a JSON API (see README)."""
    import uvicorn
    from pydantic import ValidationError

    from ui.api_models import ApiSettings, is_loopback

    try:
        api = ApiSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"HANDBOOK_API_{str(first['loc'][0]).upper()}: {first['msg']}", 2) from None
    if not api.keys and not is_loopback(host):
        raise fail(
            f"refusing to serve on {host} without API keys: set HANDBOOK_API_KEYS or bind 127.0.0.1", 2
        )
    quiet_libraries()
    err.print(f"Serving the handbook API on http://{host}:{port}/v1 (docs at /docs; Ctrl+C stops it).")
    uvicorn.run("ui.api:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


def _mount_subcommands() -> None:
    """``handbook eval …``, ``handbook bench …`` and ``handbook feedback …`` live with their code."""
    from evals.bench import bench_app
    from evals.cli import eval_app
    from ui.feedback_cli import feedback_app

    app.add_typer(eval_app, name="eval")
    app.add_typer(bench_app, name="bench")
    app.add_typer(feedback_app, name="feedback")


_mount_subcommands()


def main() -> None:
    """Entry point for ``python -m ui.cli``."""
    app()


if __name__ == "__main__":
    main()

"""The ``handbook`` command line: ingest, inspect the index, ask, chat, evaluate, benchmark, run the app."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assistant.settings import Settings

app = typer.Typer(help="TACTICS Handbook Assistant.", no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True)


def _quiet_libraries() -> None:
    """Silence progress bars and telemetry of the libraries underneath."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # transformers is optional at this point
        pass


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
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

    _quiet_libraries()
    settings = Settings()
    sources = list(paths) if paths else settings.default_sources()
    try:
        store = settings.open_store()
        embedder = settings.embedder()
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:  # fmt: skip
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
        err.print(f"[red]failed:[/red] {line}", highlight=False)
    console.print(summary.line(), highlight=False)
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
        sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "ui" / "app.py"),
        "--server.address", address, "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.headless", "true",
    ]  # fmt: skip
    console.print(f"Open http://{address}:{port} in your browser (Ctrl+C stops the app).")
    raise typer.Exit(subprocess.call(cmd, cwd=REPO_ROOT))


def main() -> None:
    """Entry point for ``python -m ui.cli``."""
    app()


if __name__ == "__main__":
    main()

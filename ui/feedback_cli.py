"""``handbook feedback``: export the feedback given in the app as evaluation-dataset items."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from assistant.feedback import FeedbackStore
from assistant.settings import Settings

feedback_app = typer.Typer(help="Feedback given in the app.", no_args_is_help=True, add_completion=False)


def feedback_path(settings: Settings) -> Path:
    """Where the app keeps feedback for these settings."""
    return settings.data_dir / "feedback.sqlite3"


@feedback_app.callback()
def main() -> None:
    """Feedback given in the app (thumbs up/down and comments on answers)."""


@feedback_app.command()
def export(
    out: Annotated[
        Path | None, typer.Option("--out", help="JSONL file to write (default: standard output).")
    ] = None,
) -> None:
    """Write rated answers as JSONL in the evaluation dataset format, for review as new gold items."""
    path = feedback_path(Settings())
    if not path.exists():
        typer.echo(f"no feedback yet at {path}: rate answers in the app (`handbook app`) first", err=True)
        raise typer.Exit(1)
    store = FeedbackStore(path)
    if out is None:
        for item in store.gold_items():
            sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        return
    count = store.export_jsonl(out)
    typer.echo(f"{count} item(s) written to {out}", err=True)

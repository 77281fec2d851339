"""``handbook bench load``: concurrent conversations (threads, then processes) against one index.

Processes mode runs through the real CLI in a subprocess: the workers are spawned, and a spawned
child imports the parent's ``__main__`` again (under pytest, after Streamlit's AppTest, that can be
the app script), so it is only exercised the way users run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_server import chroma_server, server_settings  # noqa: F401  (fixtures: a real server, indexed)
from typer.testing import CliRunner

import evals.bench
from assistant.settings import Settings
from evals.bench import bench_app
from evals.loadtest import DEFAULT_CONVERSATIONS

REPO = Path(__file__).resolve().parents[1]
TURNS = sum(len(c) for c in DEFAULT_CONVERSATIONS)


def handbook_command() -> list[str]:
    script = Path(sys.executable).with_name("handbook")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ui.cli"]


def run_bench_load(env: dict[str, str], out: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    proc = subprocess.run(
        [
            *handbook_command(),
            "bench",
            "load",
            "--levels",
            "1,2",
            "--modes",
            "threads,processes",
            "--out",
            str(out),
        ],
        env={**env, "COLUMNS": "200"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, json.loads(out.read_text())


def assert_every_level_ran_and_agreed(figures: dict[str, Any], table: str) -> None:
    rows = [(r["mode"], r["workers"]) for r in figures["levels"]]
    assert rows == [("threads", 1), ("threads", 2), ("processes", 1), ("processes", 2)]
    for row in figures["levels"]:
        assert row["answers"] == TURNS * row["workers"]
        assert row["mismatches"] == 0 and row["mismatched_questions"] == []
        assert row["seconds"] > 0 and row["answers_per_s"] > 0
        assert 0 < row["p50_ms"] <= row["p95_ms"]
    assert figures["mismatches"] == 0
    for header in ("mode", "answers/s", "p50 ms", "p95 ms", "mismatches"):
        assert header in table
    assert "threads" in table and "processes" in table
    assert "every answer equals the single-user answer" in table


def plain_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HANDBOOK_")}


@pytest.mark.slow
def test_bench_load_threads_and_processes_on_the_local_index(
    handbook_settings: Settings, tmp_path: Path
) -> None:
    env = {**plain_env(), "HANDBOOK_DATA_DIR": str(handbook_settings.data_dir)}
    proc, figures = run_bench_load(env, tmp_path / "load.json")
    assert figures["store"] == "local"
    assert "local index" in proc.stdout
    assert_every_level_ran_and_agreed(figures, proc.stdout)


@pytest.mark.slow
@pytest.mark.server
def test_bench_load_against_a_chroma_server(server_settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    env = {
        **plain_env(),
        "HANDBOOK_DATA_DIR": str(server_settings.data_dir),
        "HANDBOOK_CHROMA_HOST": "127.0.0.1",
        "HANDBOOK_CHROMA_PORT": str(server_settings.chroma_port),
    }
    proc, figures = run_bench_load(env, tmp_path / "load.json")
    assert figures["store"] == "server"
    assert figures["location"] == f"http://127.0.0.1:{server_settings.chroma_port}"
    assert "Chroma server" in proc.stdout
    assert not (server_settings.data_dir / "chroma").exists()  # nothing was read or written locally
    assert_every_level_ran_and_agreed(figures, proc.stdout)


# -- the command without an index -------------------------------------------------------------------

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--levels", "0,4"], "positive numbers"),
        (["--levels", "one"], "comma-separated list of numbers"),
        (["--modes", "threads,fibers"], "use threads, processes"),
    ],
)
def test_bad_levels_or_modes_are_one_line_errors(args: list[str], message: str) -> None:
    result = runner.invoke(bench_app, ["load", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_changed_answer_exits_1_and_names_the_question(monkeypatch: pytest.MonkeyPatch) -> None:
    row = {
        "mode": "threads",
        "workers": 4,
        "answers": 4 * TURNS,
        "seconds": 1.0,
        "answers_per_s": 4.0 * TURNS,
        "p50_ms": 10.0,
        "p95_ms": 20.0,
        "mismatches": 1,
        "mismatched_questions": ["What is step 6 about?"],
        "mismatch_examples": [{"question": "What is step 6 about?", "expected": "{}", "got": "{}"}],
        "start_seconds": 0.0,
    }
    figures = {
        "store": "local",
        "location": "/nowhere/chroma",
        "conversations": len(DEFAULT_CONVERSATIONS),
        "turns": TURNS,
        "rounds": 1,
        "llm": "none",
        "torch_threads": 1,
        "cpus": 2,
        "seconds": 1.5,
        "load_average": {"before": 0.5, "after": 0.7},
        "levels": [row],
        "mismatches": 1,
    }
    monkeypatch.setattr(evals.bench, "bench_load", lambda *args, **kwargs: figures)
    monkeypatch.setattr(evals.bench, "Settings", lambda: Settings(data_dir=Path("/nowhere")))
    result = runner.invoke(bench_app, ["load", "--levels", "4", "--modes", "threads"])
    assert result.exit_code == 1
    assert "threads × 4: 1 answer(s) differ" in result.output
    assert "What is step 6 about?" in result.output

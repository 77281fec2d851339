"""Scale-out and faults with a real Chroma server: the server going away and coming back, two app processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from procs import free_port, stop
from test_server import chroma_command, wait_for_heartbeat

from assistant.assistant import Assistant
from assistant.settings import Settings
from evals.loadtest import DEFAULT_CONVERSATIONS, run_load
from ingest.pipeline import run_ingest

pytestmark = [pytest.mark.slow, pytest.mark.server]
REPO = Path(__file__).resolve().parents[1]


def start_chroma(port: int, path: Path, log: Path) -> subprocess.Popen:
    handle = log.open("ab")
    proc = subprocess.Popen(
        [*chroma_command(), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    wait_for_heartbeat(port, proc, log)
    return proc


def test_server_away_and_back_without_restart(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "chroma.log"
    server = start_chroma(port, tmp_path / "chroma", log)
    try:
        settings = Settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port)
        assert run_ingest(settings.default_sources(), settings.open_store(), settings.embedder()).ok
        assistant = Assistant.from_settings(settings)
        before = assistant.ask("How should we choose partners?")
        assert before.notice is None and before.retrieved[0].dense is not None

        stop(server)
        during = assistant.ask("How should we choose partners?")
        assert during.notice and "unreachable" in during.notice and "keyword search" in during.notice
        assert during.citations and not during.refused  # still a grounded answer, from BM25

        server = start_chroma(port, tmp_path / "chroma", log)
        after = assistant.ask("How should we choose partners?")  # the same object: no restart
        assert after.notice is None and after.text == before.text
    finally:
        stop(server)


def test_two_app_processes_share_one_index(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "chroma.log"
    server = start_chroma(port, tmp_path / "chroma", log)
    apps: list[subprocess.Popen] = []
    try:
        env = {
            **os.environ,
            "HANDBOOK_DATA_DIR": str(tmp_path / "data"),
            "HANDBOOK_CHROMA_HOST": "127.0.0.1",
            "HANDBOOK_CHROMA_PORT": str(port),
        }
        # The index is built once, by one ingest, into the server.
        subprocess.run([sys.executable, "-m", "ui.cli", "ingest"], env=env, cwd=REPO, check=True, timeout=600)
        ports = [free_port(), free_port()]
        for app_port in ports:
            apps.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "streamlit",
                        "run",
                        "ui/app.py",
                        "--server.address",
                        "127.0.0.1",
                        "--server.port",
                        str(app_port),
                        "--server.headless",
                        "true",
                        "--browser.gatherUsageStats",
                        "false",
                    ],
                    env=env,
                    cwd=REPO,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for app_port in ports:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{app_port}/_stcore/health", timeout=2
                    ) as r:
                        assert r.read() == b"ok"
                        break
                except OSError:
                    assert time.monotonic() < deadline, "app did not start"
                    time.sleep(0.5)
        # Each app process answers from the server: two processes asking at once, same answer.
        asks = [
            subprocess.Popen(
                [sys.executable, "-m", "ui.cli", "ask", "What is on the step 6 checklist?", "--json"],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        answers = [json.loads(p.communicate(timeout=300)[0]) for p in asks]
        assert answers[0]["text"] == answers[1]["text"] and answers[0]["citations"]
        assert all(c["part"] == "step-6" for c in answers[0]["citations"])
    finally:
        for app in apps:
            stop(app)
        stop(server)


def test_concurrent_conversations_give_single_user_answers(assistant, handbook_settings) -> None:  # type: ignore[no-untyped-def]
    results = run_load(
        handbook_settings, DEFAULT_CONVERSATIONS[:3], levels=(1, 4), modes=("threads",), assistant=assistant
    )
    assert [r.workers for r in results] == [1, 4]
    assert all(r.mismatches == 0 and r.answers > 0 for r in results)

"""No network at run time, nothing written outside the data folder, secrets never printed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_socket import SocketConnectBlockedError

from assistant.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def test_sockets_to_other_hosts_are_blocked_in_the_test_suite() -> None:
    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: never routed


def test_api_key_never_appears_in_settings_output() -> None:
    settings = Settings(llm_api_key="sk-very-secret-key")  # type: ignore[arg-type]
    assert "sk-very-secret-key" not in settings.model_dump_json()
    assert "sk-very-secret-key" not in repr(settings) and "sk-very-secret-key" not in str(
        settings.model_dump()
    )


def tree(root: Path, skip: set[str]) -> set[str]:
    out = set()
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts and rel.parts[0] in skip or "__pycache__" in rel.parts or ".pytest_cache" in rel.parts:
            continue
        out.add(str(rel))
    return out


@pytest.mark.slow
def test_nothing_is_written_outside_the_data_folder(tmp_path: Path) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    skip = {".venv", ".git", "data", "test-artifacts", ".mypy_cache", ".ruff_cache", ".hypothesis"}
    before_repo, before_home = tree(REPO, skip), tree(home, set())
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HANDBOOK_DATA_DIR": str(data),
        "HANDBOOK_LLM_API_KEY": "sk-never-print-me",
    }
    for args in (["ingest"], ["ask", "What is step 6 about?", "--json"], ["index", "--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "ui.cli", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "sk-never-print-me" not in done.stdout + done.stderr
    assert tree(REPO, skip) == before_repo
    assert tree(home, set()) == before_home
    assert (data / "chroma").is_dir()

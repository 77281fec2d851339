"""Helpers of the browser tests: Debian's Chromium driven by playwright against `streamlit run ui/app.py`.

The `app_url` fixture (one streamlit server per test session) is in conftest.py and uses these.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from procs import free_port, stop

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: never `playwright install`, no network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 180  # seconds for streamlit to listen and the app to load the assistant
ANSWER_TIMEOUT = 120_000  # milliseconds
RERUN_START_MS = 200  # a click's rerun may not have started yet


def wait_for_health(url: str, proc: subprocess.Popen, deadline: float) -> None:
    """Wait until streamlit answers its health check (fail early if it exits)."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {ARTIFACTS / 'streamlit.log'}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer at {url} within {START_TIMEOUT} s")


def require_chromium() -> None:
    """Skip (or fail, with HANDBOOK_REQUIRE_BROWSER=1) when Debian's chromium is not installed."""
    if not CHROMIUM.exists():
        if os.environ.get("HANDBOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")


@contextmanager
def streamlit_app(data_dir: Path) -> Iterator[str]:
    """`streamlit run ui/app.py` on a free loopback port over `data_dir`; its URL; always terminated."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    env = {**os.environ, "HANDBOOK_DATA_DIR": str(data_dir)}
    command = [
        sys.executable, "-m", "streamlit", "run", "ui/app.py", "--server.address", "127.0.0.1",
        "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with (ARTIFACTS / "streamlit.log").open("wb") as log:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_health(url, proc, time.monotonic() + START_TIMEOUT)
            yield url
        finally:
            stop(proc, timeout=15)


def idle(page: Any, timeout: float = ANSWER_TIMEOUT) -> None:
    """Wait until the app has no script run going (what a person waits for before the next click)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(RERUN_START_MS)
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout
    )


async def idle_async(page: Any, timeout: float = ANSWER_TIMEOUT) -> None:
    """`idle` for playwright's async API."""
    from playwright.async_api import expect

    await page.wait_for_timeout(RERUN_START_MS)
    await expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout
    )


@contextmanager
def chat_page(app_url: str) -> Iterator[tuple[Any, Any]]:
    """A Chromium page on the app's chat, ready for a question: (page, chat input); closed afterwards."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            # Streamlit scrolls inside the page, so a tall window is what makes whole-page screenshots.
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(app_url, timeout=START_TIMEOUT * 1000)
            chat = page.get_by_test_id("stChatInputTextArea")
            expect(chat).to_be_visible(timeout=START_TIMEOUT * 1000)
            idle(page)
            yield page, chat
        finally:
            browser.close()

"""End to end in a real browser: Debian's Chromium driven by playwright, against `streamlit run ui/app.py`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
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
EXPAND_MS = 700  # an expander's opening animation


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@pytest.fixture(scope="module")
def app_url(handbook_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`streamlit run ui/app.py` on a free loopback port, over the session's index; always terminated."""
    if not CHROMIUM.exists():
        if os.environ.get("HANDBOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    env = {**os.environ, "HANDBOOK_DATA_DIR": str(handbook_settings.data_dir)}
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
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def idle(page: Any) -> None:
    """Wait until the app has no script run going (what a person waits for before the next click)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(200)  # a click's rerun may not have started yet
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=ANSWER_TIMEOUT
    )


def open_expander(page: Any, expander: Any) -> None:
    """Open an expander and wait for it to finish: a click on its content while it opens is lost."""
    from playwright.sync_api import expect

    expander.locator("summary").click()
    expect(expander.get_by_test_id("stExpanderDetails")).to_be_visible()
    page.wait_for_timeout(EXPAND_MS)


def test_chat_sources_and_journey_checklist_in_chromium(app_url: str) -> None:
    """Ask, see a cited answer, open a source, go to the Journey page, tick the checklist, complete the step."""
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
            chat.fill("What is a matchmaking event?")
            chat.press("Enter")

            answer = page.get_by_test_id("stChatMessage").nth(1)
            expect(answer).to_contain_text("[1]", timeout=ANSWER_TIMEOUT)
            expect(answer).to_contain_text("Sources")
            idle(page)
            page.screenshot(path=str(ARTIFACTS / "chat-answer.png"), full_page=True)

            open_expander(page, answer.get_by_test_id("stExpander").first)
            page.screenshot(path=str(ARTIFACTS / "chat-source-open.png"), full_page=True)

            page.get_by_test_id("stSidebarNav").get_by_text("Journey").click()
            heading = page.get_by_role("heading", name="The Internationalisation Journey")
            expect(heading).to_be_visible(timeout=ANSWER_TIMEOUT)
            idle(page)
            title = page.locator("summary").filter(has_text="Step 4 – Strategy & Action Plan")
            step = page.get_by_test_id("stExpander").filter(has=title)
            open_expander(page, step)
            boxes = step.get_by_test_id("stCheckbox")
            for i in range(boxes.count()):
                boxes.nth(i).locator("label").click()
                expect(boxes.nth(i).locator("input[type=checkbox]")).to_be_checked()
                idle(page)
            page.screenshot(path=str(ARTIFACTS / "journey-checklist.png"), full_page=True)
            step.get_by_role("button", name="Step complete").click()
            expect(step).to_contain_text("Next step: Step 5 – Implement Training", timeout=ANSWER_TIMEOUT)
            page.screenshot(path=str(ARTIFACTS / "journey-next-step.png"), full_page=True)
        finally:
            browser.close()

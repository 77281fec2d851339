"""End to end in a real browser: Debian's Chromium driven by playwright, against `streamlit run ui/app.py`."""

from __future__ import annotations

from typing import Any

import pytest
from browser import ANSWER_TIMEOUT, ARTIFACTS, chat_page, idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

EXPAND_MS = 700  # an expander's opening animation


def open_expander(page: Any, expander: Any) -> None:
    """Open an expander and wait for it to finish: a click on its content while it opens is lost."""
    from playwright.sync_api import expect

    expander.locator("summary").click()
    expect(expander.get_by_test_id("stExpanderDetails")).to_be_visible()
    page.wait_for_timeout(EXPAND_MS)


def test_chat_sources_and_journey_checklist_in_chromium(app_url: str) -> None:
    """Ask, see a cited answer, open a source, go to the Journey page, tick the checklist, complete the step."""
    from playwright.sync_api import expect

    with chat_page(app_url) as (page, chat):
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

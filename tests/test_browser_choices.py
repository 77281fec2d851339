"""A pick by button in a real browser: the quick replies under an answer that offers choices."""

from __future__ import annotations

import pytest
from browser import ANSWER_TIMEOUT, CHROMIUM, CHROMIUM_ARGS, START_TIMEOUT, idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

QUIET = "Our lead partner in Norway has gone quiet and the joint bid we were preparing is off."


def test_a_quick_reply_button_picks_a_condition_in_chromium(app_url: str) -> None:
    """Tell a situation no cue knows, click "The project did not work out": the next step is Step 6."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(app_url, timeout=START_TIMEOUT * 1000)
            chat = page.get_by_test_id("stChatInputTextArea")
            expect(chat).to_be_visible(timeout=START_TIMEOUT * 1000)
            idle(page)
            chat.fill(QUIET)
            chat.press("Enter")
            button = page.get_by_role("button", name="The project did not work out (Step 6)")
            expect(button).to_be_visible(timeout=ANSWER_TIMEOUT)
            idle(page)
            button.click()
            answer = page.get_by_test_id("stChatMessage").nth(3)
            expect(answer).to_contain_text("Next step: Step 6", timeout=ANSWER_TIMEOUT)
            expect(page.get_by_test_id("stChatMessage").nth(2)).to_contain_text(
                "The project did not work out"
            )
            expect(answer).to_contain_text("go back to Step 6")
            expect(page.get_by_role("button", name="The project did not work out (Step 6)")).to_have_count(0)
        finally:
            browser.close()

"""A pick by button in a real browser: the quick replies under an answer that offers choices."""

from __future__ import annotations

import pytest
from browser import ANSWER_TIMEOUT, chat_page, idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

QUIET = "Our lead partner in Norway has gone quiet and the joint bid we were preparing is off."
FAILED = "The project did not work out (Step 6)"


def test_a_quick_reply_button_picks_a_condition_in_chromium(app_url: str) -> None:
    """Tell a situation no cue knows, click "The project did not work out": the next step is Step 6."""
    from playwright.sync_api import expect

    with chat_page(app_url) as (page, chat):
        chat.fill(QUIET)
        chat.press("Enter")
        button = page.get_by_role("button", name=FAILED)
        expect(button).to_be_visible(timeout=ANSWER_TIMEOUT)
        idle(page)
        button.click()
        answer = page.get_by_test_id("stChatMessage").nth(3)
        expect(answer).to_contain_text("Next step: Step 6", timeout=ANSWER_TIMEOUT)
        expect(page.get_by_test_id("stChatMessage").nth(2)).to_contain_text("The project did not work out")
        expect(answer).to_contain_text("go back to Step 6")
        expect(page.get_by_role("button", name=FAILED)).to_have_count(0)

"""A three-turn conversation in the Streamlit chat, in Chromium: "them" is the case of the first answer."""

from __future__ import annotations

import pytest
from browser import ANSWER_TIMEOUT, ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, START_TIMEOUT, idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_a_follow_up_in_the_chat_resolves_them_to_the_first_answers_case(app_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    turns = [
        ("Tell me about the Greek cluster liaison office in Silicon Valley.", "Case 17"),
        ("Who paid for it?", "[1]"),
        ("What did they learn from them?", "Go-No Go decisions"),
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(app_url, timeout=START_TIMEOUT * 1000)
            chat = page.get_by_test_id("stChatInputTextArea")
            expect(chat).to_be_visible(timeout=START_TIMEOUT * 1000)
            idle(page)
            for n, (question, shown) in enumerate(turns):
                chat.fill(question)
                chat.press("Enter")
                answer = page.get_by_test_id("stChatMessage").nth(2 * n + 1)
                expect(answer).to_contain_text(shown, timeout=ANSWER_TIMEOUT)
                idle(page)
            last = page.get_by_test_id("stChatMessage").nth(5)
            expect(last).to_contain_text("Case 17: Greek Cluster Liaison Office in Silicon Valley")
            expect(last).not_to_contain_text("The handbook does not cover")
            page.screenshot(path=str(ARTIFACTS / "chat-follow-up.png"), full_page=True)
        finally:
            browser.close()

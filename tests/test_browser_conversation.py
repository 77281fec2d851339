"""A three-turn conversation in the Streamlit chat, in Chromium: "them" is the case of the first answer."""

from __future__ import annotations

import pytest
from browser import ANSWER_TIMEOUT, ARTIFACTS, chat_page, idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_a_follow_up_in_the_chat_resolves_them_to_the_first_answers_case(app_url: str) -> None:
    from playwright.sync_api import expect

    turns = [
        ("Tell me about the Greek cluster liaison office in Silicon Valley.", "Case 17"),
        ("Who paid for it?", "[1]"),
        ("What did they learn from them?", "Go-No Go decisions"),
    ]
    with chat_page(app_url) as (page, chat):
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

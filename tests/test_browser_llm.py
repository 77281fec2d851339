"""The chat in a real browser with the real model: its tokens stream in, then the verified answer replaces them."""

from __future__ import annotations

import time

import pytest
from browser import ANSWER_TIMEOUT, ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, START_TIMEOUT, idle, streamlit_app

from assistant.assistant import Assistant

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(autouse=True)
def chromium() -> None:
    """Skip (or fail in CI) before loading anything when Debian's Chromium is missing."""
    from browser import require_chromium

    require_chromium()


QUESTION = "What is a matchmaking event?"
MAX_TOKENS = 64


def watch_answer(page, seconds: float) -> list[str]:  # type: ignore[no-untyped-def]
    """The assistant message's text every 50 ms while the app runs: the drafts the user sees."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        texts = page.get_by_test_id("stChatMessage").all_inner_texts()
        if len(texts) > 1 and (not seen or texts[1] != seen[-1]):
            seen.append(texts[1])
        state = page.get_by_test_id("stApp").get_attribute("data-test-script-state")
        if state == "notRunning" and seen and "Sources" in seen[-1]:
            break
        page.wait_for_timeout(50)
    return seen


def test_chat_streams_the_real_models_tokens_then_the_verified_answer(
    real_llm, smollm2_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    # What the model writes for this question, in this process (greedy decoding: the app's is the same).
    model = Assistant(
        real_llm.settings.model_copy(update={"llm_max_tokens": MAX_TOKENS}),
        real_llm.index,
        real_llm.journey,
        type(real_llm.chat_model)(path=smollm2_path, max_new_tokens=MAX_TOKENS),
    )
    events = list(model.stream(QUESTION))
    reply = "".join(e for e in events if isinstance(e, str))
    assert reply.strip()

    monkeypatch.setenv("HANDBOOK_LLM", f"hf:{smollm2_path}")
    monkeypatch.setenv("HANDBOOK_LLM_MAX_TOKENS", str(MAX_TOKENS))
    with streamlit_app(real_llm.settings.data_dir) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(url, timeout=START_TIMEOUT * 1000)
            chat = page.get_by_test_id("stChatInputTextArea")
            expect(chat).to_be_visible(timeout=START_TIMEOUT * 1000)  # the model loads with the app
            idle(page, timeout=START_TIMEOUT * 1000)
            chat.fill(QUESTION)
            chat.press("Enter")
            seen = watch_answer(page, ANSWER_TIMEOUT / 1000)
            page.screenshot(path=str(ARTIFACTS / "chat-llm-answer.png"), full_page=True)
        finally:
            browser.close()
    drafts = [s for s in seen if s.strip() and "Sources" not in s]
    start = " ".join(reply.split()[:4])
    # The model's own words appeared, growing token by token, before the answer was final.
    assert len(drafts) >= 2 and any(start in " ".join(d.split()) for d in drafts), (start, drafts)
    final = seen[-1]
    assert "Sources" in final and "[1]" in final
    answer = events[-1]
    assert not isinstance(answer, str)
    if answer.backend == "none":  # the model's answer failed verification: the notice says so
        assert "extractive answer" in final

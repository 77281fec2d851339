"""Load in a real browser: four Chromium sessions talk to one `streamlit run ui/app.py` at the same time.

Each session (its own browser context, so its own Streamlit session) asks a different question at the
same moment, then a follow-up that only makes sense with its own history. Three of the four follow-ups
are the very same words ("What about the next step?"), so the answers differ only if every session
keeps its own conversation: after Step 6 it is Step 7, after the Step 4 checklist it is the Step 5
checklist, and after an out-of-scope question (no step known) the assistant asks where the user is.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, START_TIMEOUT, idle_async

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PAGES = 4
# Four sessions share two cores with four renderers: give every answer plenty of time.
PARALLEL_ANSWER_TIMEOUT = 300_000  # milliseconds
REFUSAL = "The handbook does not cover this question"
CLARIFICATION = "Which step of the Internationalisation Journey are you at"
NEXT = "What about the next step?"


@dataclass(frozen=True)
class Turn:
    """A question, texts its answer must show and texts it must not show."""

    question: str
    shows: tuple[str, ...]
    hides: tuple[str, ...] = ()
    cited: bool = True  # an answer from the handbook: numbered citations and a Sources area


@dataclass(frozen=True)
class Conversation:
    """What one browser session asks, in order."""

    name: str
    turns: tuple[Turn, Turn]


CONVERSATIONS = (
    Conversation(
        "partners",
        (
            Turn("Who should we partner with in Step 6?", ("Step 6. Identify Partners",)),
            Turn(NEXT, ("Step 7. Develop Trust & Projects",), hides=(CLARIFICATION,)),
        ),
    ),
    Conversation(
        "checklist",
        (
            Turn(
                "What is on the Step 4 checklist?",
                (
                    "Step 4 – Strategy & Action Plan – step completion checklist",
                    "Have you completed your Internationalisation Strategy & Action Plan?",
                ),
            ),
            Turn(
                NEXT,
                ("Step 5 – Implement Training – step completion checklist",),
                hides=(CLARIFICATION, "Step 4 – Strategy & Action Plan – step completion checklist"),
            ),
        ),
    ),
    Conversation(
        "case",
        (
            Turn(
                "Tell me about the Medicon Valley case",
                ("Case 18: Medicon Valley Alliance Life Science Ambassador Programme", "Challenge:"),
            ),
            Turn(
                "What were the key lessons of that case?",
                ("Case 18: Medicon Valley Alliance Life Science Ambassador Programme", "Skilled ambassadors"),
                hides=(CLARIFICATION, "Challenge:"),
            ),
        ),
    ),
    Conversation(
        "out-of-scope",
        (
            Turn(
                "What is the best recipe for chocolate cake?", (REFUSAL, "Outside the handbook"), cited=False
            ),
            Turn(NEXT, (CLARIFICATION,), hides=(REFUSAL,), cited=False),
        ),
    ),
)


async def user_texts(page: Any) -> list[str]:
    """The questions shown in the chat, oldest first."""
    messages = page.get_by_test_id("stChatMessage")
    texts = []
    for i in range(0, await messages.count(), 2):
        content = messages.nth(i).get_by_test_id("stChatMessageContent")
        texts.append((await content.inner_text()).strip())
    return texts


async def converse(
    browser: Any, app_url: str, conversation: Conversation, barrier: asyncio.Barrier, timings: dict
) -> None:
    """One user in their own browser context: open the app, then ask each question with the others."""
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1400, "height": 2400})
    page = await context.new_page()
    try:
        await page.goto(app_url, timeout=START_TIMEOUT * 1000)
        chat = page.get_by_test_id("stChatInputTextArea")
        await expect(chat).to_be_visible(timeout=START_TIMEOUT * 1000)
        await idle_async(page, PARALLEL_ANSWER_TIMEOUT)
        messages = page.get_by_test_id("stChatMessage")
        for k, turn in enumerate(conversation.turns, start=1):
            await chat.fill(turn.question)
            await barrier.wait()  # every session presses Enter at the same moment
            started = time.monotonic()
            await chat.press("Enter")
            answer = messages.nth(2 * k - 1)
            # An answer is complete when its feedback controls are drawn under it (whatever it says).
            done = answer.get_by_role("button", name="Comment")
            await expect(done).to_be_visible(timeout=PARALLEL_ANSWER_TIMEOUT)
            await idle_async(page, PARALLEL_ANSWER_TIMEOUT)
            timings[(conversation.name, k)] = time.monotonic() - started

            # Only this session's questions, each once, in order, and one answer for each.
            asked = [t.question for t in conversation.turns[:k]]
            assert await user_texts(page) == asked, f"{conversation.name} shows other questions"
            await expect(messages).to_have_count(2 * k)
            for text in turn.shows:
                await expect(answer).to_contain_text(text)
            for text in turn.hides:
                await expect(answer).not_to_contain_text(text)
            if turn.cited:
                await expect(answer).to_contain_text("[1]")
                await expect(answer).to_contain_text("Sources")
                await expect(answer).not_to_contain_text(REFUSAL)
            else:
                await expect(answer).not_to_contain_text("[1]")
                await expect(answer).not_to_contain_text("Sources")
            await barrier.wait()  # the next questions start together again

        # Nothing another session asked appears anywhere on this page, and no error either.
        main = await page.get_by_test_id("stMainBlockContainer").inner_text()
        own = {t.question for t in conversation.turns}
        for other in CONVERSATIONS:
            for t in other.turns:
                if t.question not in own:
                    assert t.question not in main, f"{conversation.name} shows {other.name}'s question"
        await expect(page.get_by_test_id("stException")).to_have_count(0)
        assert " failed: " not in main
    finally:
        try:
            await page.screenshot(path=str(ARTIFACTS / f"parallel-{conversation.name}.png"), full_page=True)
        finally:
            await context.close()


async def run_sessions(app_url: str) -> dict:
    """All conversations at once in one Chromium, each in its own context (its own cookies, own session)."""
    from playwright.async_api import async_playwright

    timings: dict = {}
    barrier = asyncio.Barrier(PAGES)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            await asyncio.gather(*(converse(browser, app_url, c, barrier, timings) for c in CONVERSATIONS))
        finally:
            await browser.close()
    return timings


def test_four_parallel_sessions_keep_separate_conversations(app_url: str) -> None:
    """Four users at once: each sees only their own two questions, with answers that fit their own history."""
    assert len(CONVERSATIONS) == PAGES
    timings = asyncio.run(run_sessions(app_url))
    for (name, k), seconds in sorted(timings.items()):
        print(f"{name} answer {k}: {seconds:.1f} s")

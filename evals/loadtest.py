"""Concurrent conversations against one index: throughput, p50/p95 latency, and answers unchanged.

Step by step:

1. Answer every conversation once, alone: the reference answers.
2. For each concurrency level N, run N copies of the conversations at once (threads sharing one
   ``Assistant``, or processes with one ``Assistant`` each) and time every answer.
3. Report answers per second, p50 and p95 latency, and how many answers differ from the
   reference (must be 0: concurrency never changes an answer).

The same script runs against a Chroma server when ``HANDBOOK_CHROMA_HOST`` is set.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from assistant.assistant import Assistant
from assistant.settings import Settings
from assistant.state import ConversationState

Conversation = Sequence[str]


@dataclass
class LevelResult:
    """Figures for one concurrency level."""

    mode: str
    workers: int
    answers: int
    seconds: float
    p50_ms: float
    p95_ms: float
    mismatches: int

    @property
    def throughput(self) -> float:
        """Answers per second."""
        return self.answers / self.seconds if self.seconds else 0.0


def converse(assistant: Assistant, turns: Conversation) -> list[tuple[str, float]]:
    """Run one conversation; (answer text, milliseconds) per turn."""
    state = ConversationState()
    out = []
    for question in turns:
        started = time.perf_counter()
        answer = assistant.ask(question, state)
        out.append((answer.text, (time.perf_counter() - started) * 1000))
        state = answer.state
    return out


_WORKER: Assistant | None = None


def _init_worker(settings: dict[str, Any]) -> None:
    global _WORKER
    _WORKER = Assistant.from_settings(Settings(**settings))


def _converse_in_worker(turns: Conversation) -> list[tuple[str, float]]:
    assert _WORKER is not None
    return converse(_WORKER, turns)


def run_load(
    settings: Settings,
    conversations: Sequence[Conversation],
    levels: Sequence[int] = (1, 4, 16),
    modes: Sequence[str] = ("threads", "processes"),
    assistant: Assistant | None = None,
) -> list[LevelResult]:
    """Drive the conversations at each level and mode; see the module docstring."""
    assistant = assistant or Assistant.from_settings(settings)
    reference = [[text for text, _ in converse(assistant, c)] for c in conversations]
    results: list[LevelResult] = []
    for mode in modes:
        for n in levels:
            jobs = [c for _ in range(n) for c in conversations]
            expected = [r for _ in range(n) for r in reference]
            started = time.perf_counter()
            if mode == "threads":
                with ThreadPoolExecutor(max_workers=n) as pool:
                    outputs = list(pool.map(lambda c: converse(assistant, c), jobs))
            else:
                dumped = settings.model_dump(exclude_none=True)
                with ProcessPoolExecutor(max_workers=n, initializer=_init_worker, initargs=(dumped,)) as pool:
                    list(pool.map(_init_noop, range(n)))  # start every worker before timing answers
                    started = time.perf_counter()
                    outputs = list(pool.map(_converse_in_worker, jobs))
            seconds = time.perf_counter() - started
            latencies = [ms for out in outputs for _, ms in out]
            mismatches = sum(
                text != want
                for out, ref in zip(outputs, expected, strict=True)
                for (text, _), want in zip(out, ref, strict=True)
            )
            results.append(
                LevelResult(
                    mode, n, len(latencies), seconds, _pct(latencies, 50), _pct(latencies, 95), mismatches
                )
            )
    return results


def _init_noop(_: int) -> None:
    time.sleep(0.05)


def _pct(values: list[float], p: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


DEFAULT_CONVERSATIONS: tuple[tuple[str, ...], ...] = (
    ("What is step 6 about?", "What tools does it list?", "and for policy makers?"),
    ("What is on the step 4 checklist?", "what about the next one?"),
    ("Tell me about the Medicon Valley case", "tell me more about that case"),
    ("Our project failed. What now?",),
    ("Who won the 2022 FIFA World Cup?",),
)

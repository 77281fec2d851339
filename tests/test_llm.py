"""The optional LLM path, with fake chat models that subclass LangChain's base class and a tiny HF model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from assistant.assistant import Assistant
from assistant.llm import LLMConfigError, chat_model_from_settings
from assistant.settings import Settings


class ScriptedChat(BaseChatModel):
    """Answers with a fixed text, token by token, and records the messages it was given."""

    reply: str = ""
    fail: bool = False
    hang: float = 0.0
    seen: list[list[BaseMessage]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        text = "".join(c.message.content for c in self._stream(messages))  # type: ignore[misc]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        self.seen.append(messages)
        if self.fail:
            raise ConnectionRefusedError("connection refused")
        for token in self.reply.split(" "):
            if self.hang:
                time.sleep(self.hang)
            yield ChatGenerationChunk(message=AIMessageChunk(content=token + " "))


def with_model(assistant: Assistant, model: BaseChatModel, timeout: float = 10.0) -> Assistant:
    settings = assistant.settings.model_copy(update={"llm_timeout": timeout})
    return Assistant(settings, assistant.index, assistant.journey, model)


def test_unknown_backend_lists_the_valid_ones() -> None:
    with pytest.raises(LLMConfigError, match="valid values are none, ollama"):
        chat_model_from_settings(Settings(llm="gpt:four"))
    assert chat_model_from_settings(Settings(llm="none")) is None


@pytest.mark.slow
def test_prompt_carries_numbered_sources_with_step_metadata(assistant) -> None:  # type: ignore[no-untyped-def]
    source = assistant.retrieve("How should we choose partners in step 6?", 1)[0].chunk.text
    sentence = next(s for s in source.split(". ") if len(s) > 40)
    model = ScriptedChat(reply=f"{sentence}. [1]", seen=[])
    answer = with_model(assistant, model).ask("How should we choose partners in step 6?")
    prompt = "\n".join(str(m.content) for m in model.seen[0])
    assert "[1] Step 6. Identify Partners" in prompt and "part: step-6" in prompt and "step: 6" in prompt
    assert "cite" in prompt.lower()
    assert answer.backend == "llm" and answer.citations


@pytest.mark.slow
def test_supported_sentences_stay_and_tokens_stream(assistant) -> None:  # type: ignore[no-untyped-def]
    source = assistant.retrieve("How should we choose partners?", 1)[0].chunk.text
    sentence = next(s for s in source.split(". ") if len(s) > 40)
    model = ScriptedChat(reply=f"{sentence}. [1]", seen=[])
    events = list(with_model(assistant, model).stream("How should we choose partners?"))
    tokens = [e for e in events if isinstance(e, str)]
    answer = events[-1]
    assert len(tokens) > 3
    assert answer.backend == "llm" and "[1]" in answer.text
    assert answer.citations[0].quote and answer.citations[0].chunk_id in {
        r.chunk_id for r in answer.retrieved
    }


@pytest.mark.slow
def test_made_up_citation_and_unsupported_claim_are_removed(assistant) -> None:  # type: ignore[no-untyped-def]
    source = assistant.retrieve("How should we choose partners?", 1)[0].chunk.text
    sentence = next(s for s in source.split(". ") if len(s) > 40)
    reply = f"{sentence}. [1] The handbook guarantees EU funding of ten million euro to every cluster. [1] Partners must be chosen by lottery. [9]"
    answer = with_model(assistant, ScriptedChat(reply=reply, seen=[])).ask("How should we choose partners?")
    assert "lottery" not in answer.text and "ten million" not in answer.text
    assert "[9]" not in answer.text
    assert answer.notice and "removed" in answer.notice


@pytest.mark.slow
def test_a_failing_model_falls_back_to_the_extractive_answer(assistant) -> None:  # type: ignore[no-untyped-def]
    plain = assistant.ask("How should we choose partners?")
    answer = with_model(assistant, ScriptedChat(fail=True, seen=[])).ask("How should we choose partners?")
    assert answer.text == plain.text and answer.citations
    assert answer.notice and "unavailable" in answer.notice


@pytest.mark.slow
def test_a_hanging_model_times_out_to_the_extractive_answer(assistant) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChat(reply="slow " * 50, hang=0.5, seen=[])
    started = time.perf_counter()
    answer = with_model(assistant, model, timeout=1.0).ask("How should we choose partners?")
    assert time.perf_counter() - started < 5
    assert answer.notice and "within 1 s" in answer.notice
    assert answer.citations


@pytest.mark.slow
def test_a_garbage_answer_is_never_shown(assistant) -> None:  # type: ignore[no-untyped-def]
    answer = with_model(assistant, ScriptedChat(reply="zxq vlorp [77] ]]] {{", seen=[])).ask(
        "How should we choose partners?"
    )
    assert "vlorp" not in answer.text and answer.citations
    assert answer.notice


@pytest.mark.slow
def test_local_hugging_face_model_built_by_the_test(assistant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab_text = ["the handbook step partners cluster funding [1] [2] . , of to and"] * 4
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        vocab_text, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "<s>", "</s>"])
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", bos_token="<s>", eos_token="</s>"
    )
    fast.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"
    fast.save_pretrained(tmp_path)
    config = GPT2Config(
        vocab_size=len(fast),
        n_positions=8192,
        n_embd=16,
        n_layer=1,
        n_head=2,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=1,
    )
    GPT2LMHeadModel(config).save_pretrained(tmp_path)

    model = chat_model_from_settings(Settings(llm=f"hf:{tmp_path}"))
    answer = with_model(assistant, model, timeout=60).ask("How should we choose partners?")
    # A random model says nothing the handbook supports: the grounded answer is shown, with a notice.
    assert answer.citations and answer.notice
    assert answer.text == assistant.ask("How should we choose partners?").text


def test_hf_backend_with_a_missing_folder_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LLMConfigError, match="no such model folder"):
        chat_model_from_settings(Settings(llm=f"hf:{tmp_path / 'missing'}"))


def test_a_follow_up_is_condensed_by_the_model_unless_it_loses_the_users_words(assistant) -> None:  # type: ignore[no-untyped-def]
    from assistant.state import ConversationState

    first = assistant.ask(
        "Tell me about the Greek cluster liaison office in Silicon Valley.", ConversationState()
    )
    keeps = with_model(
        assistant, ScriptedChat(reply="Who paid for the Greek Cluster Liaison Office in Silicon Valley?")
    )
    condensed = keeps.ask("Who paid for it?", first.state)
    assert condensed.rewritten_question == "Who paid for the Greek Cluster Liaison Office in Silicon Valley?"
    drops = with_model(assistant, ScriptedChat(reply="Tell me about Silicon Valley."))
    kept_rule = drops.ask("Who paid for it?", first.state)
    # The model's rewrite lost "paid": the reader's own rewrite stands.
    assert kept_rule.rewritten_question is not None and kept_rule.rewritten_question.startswith(
        "Who paid for it?"
    )

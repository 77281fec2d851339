"""The HTTP API's settings and its typed requests and responses (OpenAI Chat Completions and native JSON)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from assistant.state import Answer, ConversationState, RetrievedChunk, Role, Turn

MODEL_ID = "tactics-handbook"
Step = Annotated[int, Field(ge=1, le=10, description="A step of the Internationalisation Journey, 1–10.")]


class ApiSettings(BaseSettings):
    """Settings of ``handbook serve``, from ``HANDBOOK_API_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="HANDBOOK_API_", env_file=None, extra="ignore")

    keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated bearer keys; when set, every /v1 call needs one. Environment only.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed by CORS (none: CORS closed)."
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="Largest request body, in bytes.")
    max_turns: int = Field(
        default=40, ge=1, description="Most user messages in one conversation (each is answered again)."
    )
    log_text: bool = Field(default=False, description="Log questions and answers (off: never logged).")

    @field_validator("keys", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- errors ---------------------------------------------------------------------------------------
class ErrorBody(BaseModel):
    """What went wrong, in the OpenAI error shape."""

    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorResponse(BaseModel):
    """Every error response: ``{"error": {"message", "type", "code", "param"}}``."""

    error: ErrorBody


# -- the native JSON API --------------------------------------------------------------------------
class AnswerJSON(Answer):
    """The ``Answer`` as ``handbook ask --json`` prints it (every field but the conversation state)."""

    state: SkipJsonSchema[ConversationState] = Field(default_factory=ConversationState, exclude=True)

    @classmethod
    def of(cls, answer: Answer) -> AnswerJSON:
        """The JSON view of an answer (new ``Answer`` fields flow through)."""
        return cls.model_validate(answer.model_dump(exclude={"state"}))


class AskRequest(BaseModel):
    """A question, the conversation before it, and where the user is on the journey."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=20_000, description="The question about the handbook.")
    history: list[Turn] = Field(default_factory=list, description="Earlier messages, oldest first.")
    role: Role | None = Field(default=None, description="Who asks: cluster_organisation or policy_maker.")
    current_step: Step | None = None


class SearchRequest(BaseModel):
    """A retrieval-only query with optional metadata filters."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=20_000)
    k: int = Field(default=10, ge=1, le=50, description="How many chunks to return.")
    parts: list[str] | None = Field(default=None, description="e.g. step-6, funding, glossary.")
    steps: list[Step] | None = None
    sections: list[str] | None = Field(default=None, description="e.g. overview, practical-examples.")
    cases: list[str] | None = Field(default=None, description="Case ids, e.g. 5.")
    audiences: list[Role] | None = None


class SearchResponse(BaseModel):
    """Ranked chunks, best first."""

    query: str
    results: list[RetrievedChunk]


class ChecklistItemOut(BaseModel):
    """One checklist question and whom it is for."""

    text: str
    audience: str


class StepOut(BaseModel):
    """A step of the journey with its completion checklist."""

    number: int
    title: str
    label: str
    phase: str
    completion: str
    checklist: list[ChecklistItemOut]


class PhaseOut(BaseModel):
    """A phase of the journey."""

    id: str
    title: str
    quote: str


class TransitionOut(BaseModel):
    """A move between steps and the handbook sentence it rests on."""

    id: str
    from_step: int
    to_step: int
    kind: str
    condition: str
    quote: str


class FundingOut(BaseModel):
    """Utilise Funding, the theme alongside every step."""

    title: str
    quote: str
    checklist: list[ChecklistItemOut]


class JourneyOut(BaseModel):
    """The ten-step Internationalisation Journey."""

    phases: list[PhaseOut]
    steps: list[StepOut]
    funding: FundingOut
    transitions: list[TransitionOut]


class CaseSummary(BaseModel):
    """A case study, in a list."""

    case_id: str
    title: str
    step: int | None
    part: str


class CaseOut(CaseSummary):
    """A whole case study."""

    challenge: str
    description: str
    key_lessons: list[str]
    contact: str
    line_start: int
    line_end: int


class Health(BaseModel):
    """Whether the index is loaded and the vector store reachable."""

    status: Literal["ok", "degraded", "unavailable"]
    index_loaded: bool
    chunks: int
    embedding_model: str | None
    reason: str | None = None


# -- OpenAI Chat Completions ----------------------------------------------------------------------
class TextPart(BaseModel):
    """A text part of a message's content (the only kind the handbook reads)."""

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """A message of the conversation; system and developer messages never change how answers are grounded."""

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        """The message's text (text parts joined)."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    """OpenAI's stream options: ``include_usage`` adds a last chunk with the usage."""

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """An OpenAI chat completion request; ``user_role`` and ``current_step`` are the handbook's extras."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(default=MODEL_ID, description=f"Any name: answers always come from {MODEL_ID}.")
    messages: list[ChatMessage] = Field(min_length=1, description="The conversation; the last is the user's.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    user_role: Role | None = Field(
        default=None, description="Who asks: cluster_organisation or policy_maker."
    )
    current_step: Step | None = None


class AssistantMessage(BaseModel):
    """The assistant's reply."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """The one choice of a completion."""

    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    """Token counts (0: the default answers are extractive and use no language model)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class CompletionHead(BaseModel):
    """What a completion and each of its stream chunks start with."""

    id: str
    created: int
    model: str = MODEL_ID


class ChatCompletion(CompletionHead):
    """An OpenAI chat completion, with the structured answer in ``handbook``."""

    object: Literal["chat.completion"] = "chat.completion"
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)
    handbook: AnswerJSON = Field(description="The answer's citations, refusal, next step, retrieved chunks…")


class Delta(BaseModel):
    """A piece of the reply in a stream."""

    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    """The one choice of a stream chunk."""

    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunk(CompletionHead):
    """One server-sent event of a streamed completion; the last carries ``handbook``."""

    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    choices: list[ChunkChoice]
    usage: Usage | None = None
    handbook: AnswerJSON | None = None


class ModelCard(BaseModel):
    """A model the service offers."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "tactics"


class ModelList(BaseModel):
    """The models of ``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]

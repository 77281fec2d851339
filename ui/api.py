"""``handbook serve``: the assistant over HTTP, as an OpenAI-compatible service and a native JSON API.

A thin layer over ``Assistant``: one assistant per worker process, built at start-up; answers run
in a worker thread, off the event loop. The server keeps no session: a conversation arrives whole
in ``messages`` (or ``history``), its earlier user messages are replayed (``Assistant.replay``) and
the last one is answered, so any worker can serve any turn.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.assistant import Assistant, retrieved_chunk
from assistant.retrieve import Filters
from assistant.settings import Settings
from assistant.state import Answer, Role, Turn
from ui.api_models import (
    MODEL_ID,
    AnswerJSON,
    ApiSettings,
    AskRequest,
    AssistantMessage,
    CaseOut,
    CaseSummary,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    ChecklistItemOut,
    Choice,
    ChunkChoice,
    Delta,
    ErrorBody,
    ErrorResponse,
    FundingOut,
    Health,
    JourneyOut,
    ModelCard,
    ModelList,
    PhaseOut,
    SearchRequest,
    SearchResponse,
    StepOut,
    TransitionOut,
    Usage,
)

log = logging.getLogger("handbook.api")
STARTED = int(time.time())
#: Seconds between two attempts to open a missing index (a request arriving sooner gets the 503 at once).
RETRY_SECONDS = 5.0
_ERROR_TYPES = {401: "authentication_error", 404: "not_found_error", 503: "service_unavailable"}
#: One server-sent event: ``data`` is a ``ChatCompletionChunk`` as JSON, or ``[DONE]`` at the end.
SSE_EVENT = {"type": "object", "properties": {"data": {"type": "string"}}, "required": ["data"]}
_DOCUMENTED: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 503)
}


class ApiError(Exception):
    """An error the client gets in the OpenAI shape, with a one-line message."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def error_response(status: int, message: str, code: str, param: str | None = None) -> JSONResponse:
    """``{"error": {"message", "type", "code", "param"}}`` with the status."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = ErrorResponse(error=ErrorBody(message=message, type=kind, code=code, param=param))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


# -- the assistant of this worker -----------------------------------------------------------------
class Service:
    """This worker's assistant, built once; while the index is missing, requests get a 503 and a retry."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reason: str | None = None
        self._assistant: Assistant | None = None
        self._lock = threading.Lock()
        self._tried = 0.0

    def load(self) -> None:
        """Build the assistant unless it is built or was tried less than ``RETRY_SECONDS`` ago."""
        from ui.components import one_line, what_to_run

        with self._lock:
            if self._assistant is not None or (
                self._tried and time.monotonic() - self._tried < RETRY_SECONDS
            ):
                return
            self._tried = time.monotonic()
            try:
                self._assistant = Assistant.from_settings(self.settings)
                self.reason = None
            except Exception as exc:  # IndexMissing, StoreError, EmbeddingModelError, LLMConfigError, …
                log.error("the assistant could not start: %s", one_line(exc))
                self.reason = (
                    f"the handbook index is not available ({type(exc).__name__}): {what_to_run(exc)}"
                )

    async def assistant(self) -> Assistant:
        """The assistant, or a 503 saying why there is none."""
        if self._assistant is None:
            await to_thread.run_sync(self.load)
        if self._assistant is None:
            raise ApiError(503, self.reason or "the handbook index is not available", "index_unavailable")
        return self._assistant

    async def health(self) -> tuple[int, Health]:
        """Status code and health: the index loaded, its chunks, the model, the vector store reachable."""
        try:
            assistant = await self.assistant()
        except ApiError as exc:
            return 503, Health(
                status="unavailable", index_loaded=False, chunks=0, embedding_model=None, reason=exc.message
            )
        model = getattr(assistant.index.embedder, "name", None)
        try:
            await to_thread.run_sync(assistant.index.store.count)
        except Exception as exc:  # a Chroma server that went away: answers fall back to keyword search
            reason = (
                f"the vector store is unreachable ({type(exc).__name__}); answering from keyword search only"
            )
            return 503, Health(
                status="degraded",
                index_loaded=True,
                chunks=len(assistant.index),
                embedding_model=model,
                reason=reason,
            )
        return 200, Health(status="ok", index_loaded=True, chunks=len(assistant.index), embedding_model=model)


def known_query(request: Request) -> None:
    """A 422 for a query parameter the operation does not take (a typo is not silently ignored)."""
    route = request.scope.get("route")
    known = {p.alias for p in route.dependant.query_params} if route is not None else set()
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ApiError(
            422,
            f"unknown query parameter {unknown[0]!r} (allowed: {allowed})",
            "unknown_parameter",
            unknown[0],
        )


def service(request: Request) -> Service:
    """The worker's service (a FastAPI dependency)."""
    found: Service = request.app.state.service
    return found


_bearer = HTTPBearer(auto_error=False, description="One of HANDBOOK_API_KEYS (only when keys are set).")


def require_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """With ``HANDBOOK_API_KEYS`` set, a valid ``Authorization: Bearer <key>``; compared in constant time."""
    keys = request.app.state.api_settings.keys
    if not keys:
        return
    given = (credentials.credentials if credentials else "").encode()
    # Every key is compared (no early exit): the time does not tell which key came close.
    matches = [hmac.compare_digest(given, key.get_secret_value().encode()) for key in keys]
    if not any(matches):
        why = "invalid API key" if credentials else "missing API key"
        raise ApiError(401, f"{why}: send the header Authorization: Bearer <key>", "invalid_api_key")


# -- answers ----------------------------------------------------------------------------------------
def conversation(messages: list[ChatMessage], max_turns: int) -> tuple[list[Turn], str]:
    """The earlier turns and the question (the last message, the user's); system messages are left out."""
    if messages[-1].role != "user":
        raise ApiError(422, "the last message must be the user's question", "invalid_messages", "messages")
    turns = [Turn(role=m.role, content=m.text()) for m in messages if m.role in ("user", "assistant")]
    check_turns(turns[:-1], max_turns)
    return turns[:-1], turns[-1].content


def check_turns(turns: list[Turn], max_turns: int) -> None:
    """A 422 when a conversation has more user messages than a request may replay."""
    if sum(t.role == "user" for t in turns) >= max_turns:
        raise ApiError(422, f"too many user messages: at most {max_turns} per conversation", "too_many_turns")


def answer_conversation(
    assistant: Assistant, turns: list[Turn], question: str, role: Role | None, step: int | None
) -> Answer:
    """Replay the earlier user turns, then answer the question (runs in a worker thread)."""
    state = assistant.replay(turns, role, step)
    return assistant.ask(question, state)


async def answer_off_loop(request: Request, *args: Any) -> Answer:
    """``answer_conversation`` in a worker thread; the text is logged only when ``log_text`` is set."""
    answer: Answer = await to_thread.run_sync(answer_conversation, *args)
    if request.app.state.api_settings.log_text:
        log.info("question: %s | answer: %s", json.dumps(answer.question), json.dumps(answer.text))
    return answer


def reply_text(answer: Answer) -> str:
    """The chat reply: the answer with its ``[n]`` markers, a notice if any, then the sources."""
    from ui.components import location

    parts = [answer.text]
    if answer.notice:
        parts.append(f"Note: {answer.notice}")
    if answer.citations:
        sources = [f"- [{c.n}] “{c.quote}” ({location(c)})" for c in answer.citations]
        parts.append("Sources:\n" + "\n".join(sources))
    return "\n\n".join(p for p in parts if p)


def pieces(text: str) -> list[str]:
    """The reply cut into words with their following spaces (joined, exactly the reply)."""
    return [p for p in re.split(r"(?<=\s)(?=\S)", text) if p]


# -- OpenAI Chat Completions ------------------------------------------------------------------------
openai_router = APIRouter(
    prefix="/v1", tags=["OpenAI-compatible"], dependencies=[Depends(require_key), Depends(known_query)]
)


def completion_id() -> str:
    """A fresh ``chatcmpl-…`` id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


@openai_router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        **_DOCUMENTED,
        200: {
            "description": "The completion; with `stream: true`, server-sent `chat.completion.chunk` events "
            "ending with `data: [DONE]`.",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
    },
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, svc: Annotated[Service, Depends(service)]
) -> Any:
    """Answer the last user message of the conversation, grounded in the handbook (OpenAI protocol)."""
    assistant = await svc.assistant()
    turns, question = conversation(body.messages, request.app.state.api_settings.max_turns)
    args = (assistant, turns, question, body.user_role, body.current_step)
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            sse(stream_events(request, args, usage)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = await answer_off_loop(request, *args)
    return ChatCompletion(
        id=completion_id(),
        created=int(time.time()),
        choices=[Choice(message=AssistantMessage(content=reply_text(answer)))],
        handbook=AnswerJSON.of(answer),
    )


async def stream_events(request: Request, args: tuple[Any, ...], usage: bool) -> AsyncIterator[Any]:
    """The stream's chunks: the role at once, the reply word by word, the structured answer, then usage."""
    ident, created = completion_id(), int(time.time())

    def chunk(delta: Delta, finish: bool = False, **extra: Any) -> ChatCompletionChunk:
        choice = ChunkChoice(delta=delta, finish_reason="stop" if finish else None)
        return ChatCompletionChunk(id=ident, created=created, choices=[choice], **extra)

    yield chunk(Delta(role="assistant", content=""))
    try:
        answer = await answer_off_loop(request, *args)
    except Exception as exc:
        log_failure(request, exc)
        yield ErrorResponse(
            error=ErrorBody(message="the answer failed", type="server_error", code="internal_error")
        )
        return
    # Only the verified answer is sent: an LLM's draft tokens can be replaced by the verification.
    for piece in pieces(reply_text(answer)):
        yield chunk(Delta(content=piece))
    yield chunk(Delta(), finish=True, handbook=AnswerJSON.of(answer))
    if usage:
        yield ChatCompletionChunk(id=ident, created=created, choices=[], usage=Usage())


async def sse(events: AsyncIterator[Any]) -> AsyncIterator[str]:
    """Server-sent events: one ``data: {json}`` per chunk, then ``data: [DONE]``."""
    async for event in events:
        yield f"data: {event.model_dump_json(exclude_none=False)}\n\n"
    yield "data: [DONE]\n\n"


@openai_router.get("/models", response_model=ModelList, responses={401: _DOCUMENTED[401]})
async def models() -> ModelList:
    """The one model: the handbook assistant."""
    return ModelList(data=[ModelCard(id=MODEL_ID, created=STARTED)])


# -- the native JSON API ----------------------------------------------------------------------------
native_router = APIRouter(
    prefix="/v1", tags=["Handbook"], dependencies=[Depends(require_key), Depends(known_query)]
)


@native_router.post("/ask", response_model=AnswerJSON, responses=_DOCUMENTED)
async def ask(body: AskRequest, request: Request, svc: Annotated[Service, Depends(service)]) -> AnswerJSON:
    """One answer, as ``handbook ask --json`` prints it; ``history`` carries the conversation before it."""
    assistant = await svc.assistant()
    check_turns(body.history, request.app.state.api_settings.max_turns)
    answer = await answer_off_loop(
        request, assistant, body.history, body.question, body.role, body.current_step
    )
    return AnswerJSON.of(answer)


@native_router.post("/search", response_model=SearchResponse, responses=_DOCUMENTED)
async def search(body: SearchRequest, svc: Annotated[Service, Depends(service)]) -> SearchResponse:
    """Retrieval only: the ranked chunks for a query, with optional metadata filters."""
    assistant = await svc.assistant()
    filters = Filters.of(body.parts, body.steps, body.sections, body.cases, body.audiences)
    ranked = await to_thread.run_sync(assistant.retrieve, body.query, body.k, filters)
    return SearchResponse(query=body.query, results=[retrieved_chunk(s) for s in ranked])


@native_router.get("/journey", response_model=JourneyOut, responses=_DOCUMENTED)
async def journey(
    svc: Annotated[Service, Depends(service)],
    role: Annotated[Role | None, Query(description="Only the checklist items for this role.")] = None,
) -> JourneyOut:
    """The ten steps by phase, their checklists, Utilise Funding and the moves between steps."""
    assistant = await svc.assistant()
    model = assistant.journey

    def items(checklist: Any) -> list[ChecklistItemOut]:
        if checklist is None:
            return []
        return [ChecklistItemOut(text=i.text, audience=i.audience) for i in checklist.for_role(role)]

    steps = [
        StepOut(number=s.number, title=s.title, label=s.label, phase=s.phase, completion=s.completion,
                checklist=items(assistant.checklists.get(s.number)))
        for s in model.steps
    ]  # fmt: skip
    moves = [
        TransitionOut(
            id=t.id, from_step=t.from_, to_step=t.to, kind=t.kind, condition=t.condition, quote=t.quote
        )
        for t in model.transitions
    ]
    funding = FundingOut(
        title=model.theme.title, quote=model.theme.quote, checklist=items(assistant.funding_checklist)
    )
    phases = [PhaseOut(id=p.id, title=p.title, quote=p.quote) for p in model.phases]
    return JourneyOut(phases=phases, steps=steps, funding=funding, transitions=moves)


@native_router.get("/cases", response_model=list[CaseSummary], responses=_DOCUMENTED)
async def cases(
    svc: Annotated[Service, Depends(service)],
    step: Annotated[int | None, Query(ge=1, le=10, description="Only the cases of this step.")] = None,
) -> list[CaseSummary]:
    """Every case study of the handbook (id, title, step), in the handbook's order."""
    assistant = await svc.assistant()
    found = [c for c in assistant.cases.values() if step is None or c.step == step]
    found.sort(
        key=lambda c: (c.step or 99, int("".join(ch for ch in c.case_id if ch.isdigit()) or 0), c.case_id)
    )
    return [CaseSummary(case_id=c.case_id, title=c.title, step=c.step, part=c.part) for c in found]


@native_router.get(
    "/cases/{case_id}", response_model=CaseOut, responses={**_DOCUMENTED, 404: {"model": ErrorResponse}}
)
async def case(case_id: str, svc: Annotated[Service, Depends(service)]) -> CaseOut:
    """One case study: challenge, description, key lessons, contact and where it is in the handbook."""
    assistant = await svc.assistant()
    found = assistant.cases.get(case_id)
    if found is None:
        raise ApiError(
            404, f"no case {case_id!r}: GET /v1/cases lists the case ids", "case_not_found", "case_id"
        )
    raw = asdict(found)
    return CaseOut(**{**raw, "key_lessons": list(raw["key_lessons"])})


# -- the application --------------------------------------------------------------------------------
def log_failure(request: Request, exc: BaseException) -> None:
    """Log an unexpected failure: where and the stack's frames, never the message (it may hold user text)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s %s failed with %s\n%s", request.method, request.url.path, type(exc).__name__, frames)


def install_error_handlers(app: FastAPI) -> None:
    """Every error in the OpenAI shape, one line, never a stack trace."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code, exc.param)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        return error_response(422, message, "invalid_request", where or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        message = (
            "the body is not JSON: send Content-Type: application/json"
            if exc.status_code == 400
            else exc.detail
        )
        return error_response(exc.status_code, str(message), code)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log_failure(request, exc)
        return error_response(500, "internal error: the server log has the details", "internal_error")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        body, more = bytearray(), not (declared.isdigit() and int(declared) > self.limit)
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False) and len(body) <= self.limit
        if len(body) > self.limit or (declared.isdigit() and int(declared) > self.limit):
            too_large = error_response(413, f"request body over {self.limit} bytes", "request_too_large")
            await too_large(scope, receive, send)
            return
        await self.app(scope, replay(bytes(body), receive), send)


def replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    """A ``receive`` that gives the buffered body once, then waits on the client (for disconnects)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def create_app(settings: Settings | None = None, api_settings: ApiSettings | None = None) -> FastAPI:
    """The FastAPI application (``uvicorn --factory ui.api:create_app``); settings from the environment."""
    from ingest.embed import quiet_libraries

    quiet_libraries()
    api = api_settings or ApiSettings()
    svc = Service(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await to_thread.run_sync(svc.load)  # one assistant per worker, built before the first request
        yield

    app = FastAPI(
        title="TACTICS Handbook Assistant",
        version="1.0",
        summary="Grounded answers from the Cluster Internationalisation Handbook, OpenAI-compatible.",
        lifespan=lifespan,
    )
    app.state.service, app.state.api_settings = svc, api
    install_error_handlers(app)

    @app.get(
        "/healthz",
        response_model=Health,
        responses={503: {"model": Health}, 422: {"model": ErrorResponse}},
        tags=["Service"],
        dependencies=[Depends(known_query)],
    )
    async def healthz() -> JSONResponse:
        """The index loaded, its chunk count and embedding model; 503 while unavailable or degraded."""
        status, health = await svc.health()
        return JSONResponse(health.model_dump(), status_code=status)

    app.include_router(openai_router)
    app.include_router(native_router)
    app.add_middleware(BodyLimit, limit=api.max_body_bytes)
    if api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=api.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app

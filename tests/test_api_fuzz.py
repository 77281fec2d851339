"""Property-based fuzzing of the whole HTTP API from its own OpenAPI schema (schemathesis): no 5xx, every
response matches the schema, against a real ``handbook serve`` over the session's index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from test_api import KEYS, Server, serve, server_env

from assistant.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.fixture(scope="module")
def fuzzed(handbook_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a key and short conversations (each message is answered again: keep fuzzing quick)."""
    env = server_env(handbook_settings.data_dir, HANDBOOK_API_KEYS=KEYS[0], HANDBOOK_API_MAX_TURNS="4")
    with serve(tmp_path_factory.mktemp("fuzz"), env) as server:
        yield server


OPERATIONS = [
    "POST /v1/chat/completions",
    "GET /v1/models",
    "POST /v1/ask",
    "POST /v1/search",
    "GET /v1/journey",
    "GET /v1/cases",
    "GET /v1/cases/{case_id}",
    "GET /healthz",
]

WITHOUT_INPUT = {"GET /v1/models", "GET /healthz"}  # nothing to make invalid
SEMANTIC_422 = {"POST /v1/chat/completions", "POST /v1/ask"}


@pytest.fixture(scope="module")
def api_schema(fuzzed: Server) -> Any:
    """The service's own OpenAPI document, as schemathesis reads it."""
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")


def test_every_operation_is_fuzzed(api_schema: Any) -> None:
    labels = [f"{op.ok().method.upper()} {op.ok().path}" for op in api_schema.get_all_operations()]
    assert sorted(labels) == sorted(OPERATIONS)


@pytest.mark.parametrize(
    ("label", "mode"),
    [(label, GenerationMode.POSITIVE) for label in OPERATIONS]
    + [(label, GenerationMode.NEGATIVE) for label in OPERATIONS if label not in WITHOUT_INPUT],
)
def test_the_api_honours_its_schema(
    api_schema: Any, fuzzed: Server, label: str, mode: GenerationMode
) -> None:
    """Generated requests (valid, then invalid) never get a 5xx; every response matches the schema."""
    method, path = label.split(" ")
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {KEYS[0]}"}
    # A schema cannot say "the last message is the user's" or "at most N user messages": those schema-valid
    # conversations get a documented 422, so a 422 there is not a rejected valid request.
    excluded = [positive_data_acceptance] if label in SEMANTIC_422 else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=20 if mode == GenerationMode.POSITIVE else 10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(base_url=fuzzed.url, headers=headers, excluded_checks=excluded, timeout=120)

    check()

"""Server mode: the handbook ingested into a real ``chroma run`` server answers like the local index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from procs import free_port, stop

from assistant.settings import Settings
from ingest.pipeline import run_ingest
from ingest.store import ChunkStore, StoreError

pytestmark = [pytest.mark.slow, pytest.mark.server]

QUERIES = [
    "How do we find partners for international cluster cooperation?",
    "What should a cluster check before applying for funding?",
    "What is the Tube Map?",
    "Which tools help to assess readiness for internationalisation?",
    "Tell me about the Medicon Valley Alliance ambassador programme",
]


def chroma_command() -> list[str]:
    script = Path(sys.executable).with_name("chroma")
    return [str(script) if script.exists() else shutil.which("chroma") or "chroma"]


def wait_for_heartbeat(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"chroma run exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2) as reply:
                if reply.status == 200 and "nanosecond heartbeat" in json.loads(reply.read()):
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"no heartbeat from chroma run on port {port}: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real Chroma server on 127.0.0.1 with its data in a temporary folder; stopped in a finally."""
    with chroma_run(tmp_path_factory.mktemp("chroma-server")) as (port, _):
        yield port


@contextmanager
def chroma_run(folder: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``chroma run`` on a free loopback port with its data in ``folder``: (port, process); always stopped."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "server.log"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *chroma_command(),
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--path",
                str(folder / "db"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_for_heartbeat(port, proc, log)
            yield port, proc
        finally:
            stop(proc, timeout=30)


@pytest.fixture(scope="module")
def server_settings(chroma_server: int, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("server-data")
    settings = Settings(data_dir=data, chroma_host="127.0.0.1", chroma_port=chroma_server)
    summary = run_ingest(
        settings.default_sources(),
        settings.open_store(),
        settings.embedder(),
        settings.chunk_size,
        settings.chunk_overlap,
    )
    assert summary.ok and summary.written, summary.errors
    return settings


def test_the_server_index_holds_the_same_chunks_as_the_local_one(
    server_settings: Settings, handbook_settings: Settings
) -> None:
    server, local = server_settings.open_store(), handbook_settings.open_store()
    assert server.location == f"http://127.0.0.1:{server_settings.chroma_port}"
    assert not (server_settings.data_dir / "chroma").exists()  # nothing written locally
    assert server.count() == local.count() > 200
    server_rows = {r.chunk.chunk_id: r.chunk for r in server.all()}
    local_rows = {r.chunk.chunk_id: r.chunk for r in local.all()}
    assert server_rows == local_rows
    assert server.structure() == local.structure()
    assert server.embedding_model() == local.embedding_model() == "all-MiniLM-L6-v2"


@pytest.mark.parametrize("query", QUERIES)
def test_server_queries_match_the_local_index(
    server_settings: Settings, handbook_settings: Settings, query: str
) -> None:
    embedder = server_settings.embedder()
    vector = embedder.embed_query(query)
    server = server_settings.open_store().query(vector, 10)
    local = handbook_settings.open_store().query(vector, 10)
    assert [c.chunk_id for c, _ in server][:3] == [c.chunk_id for c, _ in local][:3]
    assert {c.chunk_id for c, _ in server} == {c.chunk_id for c, _ in local}
    for (_, a), (_, b) in zip(server, local, strict=True):
        assert abs(a - b) < 1e-4


def test_the_assistant_answers_the_same_through_the_server(server_settings: Settings, assistant) -> None:  # type: ignore[no-untyped-def]
    from assistant.assistant import Assistant

    remote = Assistant.from_settings(server_settings)
    for query in QUERIES:
        assert [s.chunk.chunk_id for s in remote.retrieve(query)] == [
            s.chunk.chunk_id for s in assistant.retrieve(query)
        ]
        assert remote.ask(query).text == assistant.ask(query).text


def test_a_second_ingest_through_the_server_writes_nothing(server_settings: Settings) -> None:
    store = server_settings.open_store()
    active = store.active_name()
    summary = run_ingest(server_settings.default_sources(), store, server_settings.embedder())
    assert summary.ok and not summary.written
    assert server_settings.open_store().active_name() == active


def test_an_unreachable_server_is_a_clear_error() -> None:
    port = free_port()
    with pytest.raises(StoreError) as info:
        ChunkStore.open(host="127.0.0.1", port=port)
    assert f"127.0.0.1:{port}" in str(info.value) and "chroma run" in str(info.value)


def test_the_api_answers_from_keywords_with_a_503_health_when_the_chroma_server_goes_away(
    tmp_path: Path,
) -> None:
    """HTTP API over a Chroma server: healthy, then the server stops: /healthz 503 degraded, answers carry a notice."""
    import httpx
    from test_api import serve, server_env

    with chroma_run(tmp_path / "chroma") as (port, chroma):
        settings = Settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port)
        assert run_ingest(settings.default_sources(), settings.open_store(), settings.embedder()).ok
        env = server_env(settings.data_dir, HANDBOOK_CHROMA_HOST="127.0.0.1", HANDBOOK_CHROMA_PORT=str(port))
        with serve(tmp_path, env) as api:
            assert httpx.get(f"{api.url}/healthz", timeout=30).json()["status"] == "ok"
            stop(chroma, timeout=30)
            health = httpx.get(f"{api.url}/healthz", timeout=60)
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            assert "Traceback" not in health.text
            reply = httpx.post(
                f"{api.url}/v1/ask", json={"question": "How do we find partners abroad?"}, timeout=120
            )
            assert reply.status_code == 200, reply.text
            answer = reply.json()
            assert answer["citations"] and "keyword search only" in (answer["notice"] or "")

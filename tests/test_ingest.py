"""The ingest end to end: real PDFs (generated with reportlab), real model, real Chroma, the real CLI.

Tests that embed are marked ``slow``. Every test builds its own index in a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pdfs
import pytest
from typer.testing import CliRunner

from assistant.settings import Settings
from ingest.embed import Embedder
from ingest.load import LoadError, discover, load_document
from ingest.pipeline import IngestSummary, run_ingest
from ingest.store import ChunkStore, StoreError

REPO = Path(__file__).resolve().parents[1]


# -- helpers ----------------------------------------------------------------------------------


def write_topics(path: Path, name: str, topics: list[str], sentences: int = 3) -> Path:
    """A text file with one section per topic: an all-capital heading and a short paragraph."""
    parts = []
    for k, topic in enumerate(topics):
        body = " ".join(
            f"The {name} cluster works on {topic} with partner number {k}{i} abroad."
            for i in range(sentences)
        )
        parts.append(f"{topic.upper()} IN {name.upper()}\n{body}\n")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def local_settings(tmp: Path) -> Settings:
    return Settings(data_dir=tmp / "data", chroma_host=None)


def ingest(settings: Settings, embedder: Embedder, paths: list[Path], **kwargs: Any) -> IngestSummary:
    return run_ingest(
        paths, settings.open_store(), embedder, settings.chunk_size, settings.chunk_overlap, **kwargs
    )


def ids_by_doc(store: ChunkStore) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in store.all():
        out.setdefault(row.chunk.doc_id, set()).add(row.chunk.chunk_id)
    return out


def top_id(store: ChunkStore, embedder: Embedder, query: str) -> str:
    hits = store.query(embedder.embed_query(query), 1)
    assert hits
    return hits[0][0].chunk_id


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("handbook")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ui.cli"]


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDBOOK_")}
    env.update(HANDBOOK_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Settings(chroma_host=None).embedder()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[CliRunner, Path]]:
    """The real ``handbook`` typer app, in this process, with its own data folder."""
    from ui.cli import app

    data = tmp_path / "data"
    for key in [k for k in os.environ if k.startswith("HANDBOOK_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HANDBOOK_DATA_DIR", str(data))
    monkeypatch.setenv("COLUMNS", "2000")  # wide enough that rich never wraps a message
    runner = CliRunner()
    runner.app = app  # type: ignore[attr-defined]
    yield runner, data


# -- loading (fast: no model) -----------------------------------------------------------------


def test_pdf_lines_carry_their_page_numbers(tmp_path: Path) -> None:
    doc = load_document(pdfs.write_text_pdf(tmp_path / "report.pdf", 4))
    assert doc.kind == "pdf" and doc.doc_id == "report.pdf"
    assert {ln.page for ln in doc.lines} == {1, 2, 3, 4}
    for ln in doc.lines:
        heading, marker = pdfs.PAGE_TOPICS[ln.page - 1]  # type: ignore[operator]
        assert marker in ln.text.lower() or ln.text == heading
    # line numbers restart on every page
    assert [ln.line_no for ln in doc.lines if ln.page == 2][:2] == [1, 2]


def test_owner_password_only_pdf_opens(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    source = pdfs.write_text_pdf(tmp_path / "plain.pdf", 2)
    writer = PdfWriter(clone_from=str(source))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    writer.write(tmp_path / "owner.pdf")
    assert {ln.page for ln in load_document(tmp_path / "owner.pdf").lines} == {1, 2}


BAD_FILES: dict[str, tuple[Any, str]] = {
    "corrupt.pdf": (pdfs.write_corrupt_pdf, "not a readable PDF"),
    "truncated.pdf": (pdfs.write_truncated_pdf, "not a readable PDF"),
    "encrypted.pdf": (pdfs.write_encrypted_pdf, "encrypted PDF (password protected)"),
    "empty.pdf": (pdfs.write_empty_file, "the file is empty"),
    "image-only.pdf": (pdfs.write_image_only_pdf, "no extractable text"),
    "binary.txt": (lambda p: p.write_bytes(bytes(range(256)) * 8), "binary data, not text"),
    "latin1.txt": (
        lambda p: p.write_bytes("Café in Zürich: Lösungen für Cluster.\n".encode("latin-1")),
        "not UTF-8 text",
    ),
    "blank.md": (lambda p: p.write_text("  \n\n\t\n", encoding="utf-8"), "the file is empty"),
}


def make_bad_files(folder: Path) -> dict[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (make, reason) in BAD_FILES.items():
        make(folder / name)
        out[folder / name] = reason
    return out


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_gives_a_one_line_error_naming_the_file_and_the_reason(tmp_path: Path, name: str) -> None:
    make, reason = BAD_FILES[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(LoadError) as info:
        load_document(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert reason in message
    assert info.value.path == str(path)


def test_missing_and_unsupported_paths_are_errors_in_discover(tmp_path: Path) -> None:
    (tmp_path / "notes.docx").write_bytes(b"PK")
    (tmp_path / "docs").mkdir()
    write_topics(tmp_path / "docs" / "a.txt", "alpha", ["fishing"])
    (tmp_path / "docs" / "README.md").write_text("about this folder", encoding="utf-8")
    (tmp_path / "docs" / ".hidden.txt").write_text("hidden", encoding="utf-8")
    found, errors = discover([tmp_path / "docs", tmp_path / "missing.pdf", tmp_path / "notes.docx"])
    assert found == [(tmp_path / "docs" / "a.txt").resolve()]
    messages = [str(e) for e in errors]
    assert messages[0] == f"{tmp_path / 'missing.pdf'}: no such file or folder: check the path"
    assert messages[1].startswith(f"{tmp_path / 'notes.docx'}: unsupported file type .docx")


# -- the store (fast: real Chroma, hand-made vectors) -------------------------------------------


def _row(text: str, vector: list[float]) -> Any:
    from ingest.records import Chunk
    from ingest.store import StoredChunk

    chunk = Chunk(
        doc_id="a.txt", text=text, part="other", section="s", heading_path=("H",), line_start=1, line_end=1
    )
    return StoredChunk(chunk, vector)


def test_publishing_one_index_leaves_an_index_with_a_longer_name_alone(tmp_path: Path) -> None:
    """Two indexes in one Chroma (``handbook`` and ``handbook-v2``): publishing one never drops the other."""
    other = ChunkStore.open(path=tmp_path, name="handbook-v2")
    other.publish([_row("second index", [1.0, 0.0])], "m", 2)
    main = ChunkStore.open(path=tmp_path, name="handbook")
    main.publish([_row("first index", [0.0, 1.0])], "m", 2)
    main.publish([_row("first index, again", [0.0, 1.0])], "m", 2)
    other = ChunkStore.open(path=tmp_path, name="handbook-v2")
    assert other.count() == 1 and other.all()[0].chunk.text == "second index"
    assert main.count() == 1 and main.all()[0].chunk.text == "first index, again"
    names = sorted(c if isinstance(c, str) else c.name for c in main.client.list_collections())
    assert names == sorted(
        [main.active_name(), "handbook-pointer", other.active_name(), "handbook-v2-pointer"]
    )


def test_leftovers_of_an_interrupted_publish_are_dropped_by_the_next(tmp_path: Path) -> None:
    store = ChunkStore.open(path=tmp_path, name="handbook")
    store.publish([_row("first", [0.0, 1.0])], "m", 2)
    active = store.active_name()
    store.client.create_collection("handbook-20240101000000-abcdef", embedding_function=None)  # a leftover
    assert store.active_name() == active and store.count() == 1
    assert store.cleanup_leftovers() == 1
    assert store.active_name() == active and store.count() == 1


# -- ingest (slow: real model, real Chroma) ---------------------------------------------------


@pytest.mark.slow
def test_pdf_is_ingested_with_page_numbers_on_its_chunks(tmp_path: Path, embedder: Embedder) -> None:
    settings = local_settings(tmp_path)
    pdf = pdfs.write_text_pdf(tmp_path / "report.pdf", 4)
    summary = ingest(settings, embedder, [pdf])
    assert summary.ok and summary.written
    rows = [r.chunk for r in settings.open_store().all()]
    assert len(rows) == summary.total_chunks >= 4
    for chunk in rows:
        assert chunk.doc_id == "report.pdf" and chunk.part == "other"
        assert chunk.page is not None and chunk.page == chunk.page_end
        heading, marker = pdfs.PAGE_TOPICS[chunk.page - 1]
        assert marker in chunk.text.lower()
        for other_page, (_, other) in enumerate(pdfs.PAGE_TOPICS[:4], start=1):
            if other_page != chunk.page:
                assert other not in chunk.text.lower()
    assert {c.page for c in rows} == {1, 2, 3, 4}
    store = settings.open_store()
    hit = store.query(embedder.embed_query("viticulture in Burgundy"), 1)[0][0]
    assert hit.page == 4


@pytest.mark.slow
def test_bad_files_are_reported_and_good_files_still_go_in(tmp_path: Path, embedder: Embedder) -> None:
    settings = local_settings(tmp_path)
    first = write_topics(tmp_path / "first.txt", "alpha", ["fishing", "forestry"])
    assert ingest(settings, embedder, [first]).ok
    store = settings.open_store()
    before = ids_by_doc(store)
    top_before = top_id(store, embedder, "forestry in alpha")

    docs = tmp_path / "docs"
    bad = make_bad_files(docs)
    write_topics(docs / "second.txt", "beta", ["mining", "tourism"])
    pdfs.write_text_pdf(docs / "good.pdf", 3)
    missing = tmp_path / "gone.pdf"
    summary = ingest(settings, embedder, [docs, missing])

    assert not summary.ok and summary.written
    assert len(summary.errors) == len(bad) + 1
    for error in summary.errors:
        assert "\n" not in error
    by_path = {e.split(": ", 1)[0]: e for e in summary.errors}
    assert "no such file or folder" in by_path[str(missing)]
    for path, reason in bad.items():
        assert reason in by_path[str(path.resolve())], path
    after = ids_by_doc(settings.open_store())
    assert set(after) == {"first.txt", "second.txt", "good.pdf"}
    assert after["first.txt"] == before["first.txt"]
    assert top_id(settings.open_store(), embedder, "forestry in alpha") == top_before
    assert (
        settings.open_store().query(embedder.embed_query("tourism in beta"), 1)[0][0].doc_id == "second.txt"
    )


@pytest.mark.slow
def test_a_failed_file_never_damages_the_index(tmp_path: Path, embedder: Embedder) -> None:
    """A file that was indexed and is now corrupt keeps its previous chunks; the index stays usable."""
    settings = local_settings(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    pdf = pdfs.write_text_pdf(docs / "report.pdf", 3)
    write_topics(docs / "notes.txt", "gamma", ["shipping", "farming"])
    assert ingest(settings, embedder, [docs]).ok
    store = settings.open_store()
    before, active = ids_by_doc(store), store.active_name()
    top_before = top_id(store, embedder, "robotics in Bavaria")

    pdfs.write_corrupt_pdf(pdf)  # the same file, now damaged
    summary = ingest(settings, embedder, [docs])
    assert summary.errors == [
        f"{pdf.resolve()}: not a readable PDF (PdfStreamError): re-export or re-download it"
    ]
    assert not summary.written
    store = settings.open_store()
    assert ids_by_doc(store) == before
    assert store.active_name() == active
    assert top_id(store, embedder, "robotics in Bavaria") == top_before

    summary = ingest(settings, embedder, [docs], prune=True)  # the file exists: prune keeps its chunks
    assert ids_by_doc(settings.open_store()) == before and not summary.written


@pytest.mark.slow
def test_second_ingest_writes_nothing(tmp_path: Path, embedder: Embedder) -> None:
    settings = local_settings(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    write_topics(docs / "a.txt", "alpha", ["fishing", "forestry", "mining"])
    pdfs.write_text_pdf(docs / "b.pdf", 3)
    first = ingest(settings, embedder, [docs])
    assert first.written and first.chunks_added == first.total_chunks > 0
    store = settings.open_store()
    ids, active = ids_by_doc(store), store.active_name()

    second = ingest(settings, embedder, [docs])
    assert second.ok and not second.written
    assert second.chunks_added == 0 and second.chunks_removed == 0
    assert second.chunks_unchanged == second.total_chunks == first.total_chunks
    assert second.line().startswith("index unchanged, nothing written")
    store = settings.open_store()
    assert ids_by_doc(store) == ids
    assert store.active_name() == active


@pytest.mark.slow
def test_changing_one_file_replaces_only_its_chunks(tmp_path: Path, embedder: Embedder) -> None:
    settings = local_settings(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    a = write_topics(docs / "a.txt", "alpha", ["fishing", "forestry", "mining"])
    write_topics(docs / "b.txt", "beta", ["tourism", "textiles", "robotics"])
    assert ingest(settings, embedder, [docs]).ok
    store = settings.open_store()
    before = ids_by_doc(store)
    vectors_b = {r.chunk.chunk_id: r.embedding for r in store.all(True) if r.chunk.doc_id == "b.txt"}

    write_topics(a, "alpha", ["fishing", "aquaculture", "mining"])  # one section changes
    summary = ingest(settings, embedder, [docs])
    assert summary.written
    after = ids_by_doc(settings.open_store())
    assert after["b.txt"] == before["b.txt"]
    assert after["a.txt"] != before["a.txt"]
    assert summary.chunks_added == len(after["a.txt"] - before["a.txt"]) >= 1
    assert summary.chunks_removed == len(before["a.txt"] - after["a.txt"]) >= 1
    assert summary.chunks_unchanged == summary.total_chunks - summary.chunks_added
    stored = {
        r.chunk.chunk_id: r.embedding for r in settings.open_store().all(True) if r.chunk.doc_id == "b.txt"
    }
    assert stored.keys() == vectors_b.keys()
    for chunk_id, vector in stored.items():  # carried over (Chroma stores float32: equal to rounding)
        assert max(abs(x - y) for x, y in zip(vector, vectors_b[chunk_id], strict=True)) < 1e-6
    hit = settings.open_store().query(embedder.embed_query("aquaculture in alpha"), 1)[0][0]
    assert hit.doc_id == "a.txt" and "aquaculture" in hit.text


@pytest.mark.slow
def test_prune_removes_the_chunks_of_deleted_files(tmp_path: Path, embedder: Embedder) -> None:
    settings = local_settings(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    write_topics(docs / "a.txt", "alpha", ["fishing", "forestry"])
    b = write_topics(docs / "b.txt", "beta", ["tourism", "textiles"])
    assert ingest(settings, embedder, [docs]).ok
    before = ids_by_doc(settings.open_store())

    b.unlink()
    kept = ingest(settings, embedder, [docs])
    assert kept.ok and not kept.written
    assert ids_by_doc(settings.open_store()) == before  # without --prune the chunks stay

    pruned = ingest(settings, embedder, [docs], prune=True)
    assert pruned.ok and pruned.written
    assert pruned.chunks_removed == len(before["b.txt"])
    after = ids_by_doc(settings.open_store())
    assert after == {"a.txt": before["a.txt"]}
    assert "b.txt" not in settings.open_store().structure()


@pytest.mark.slow
def test_rebuild_reembeds_only_what_it_is_given(tmp_path: Path, embedder: Embedder) -> None:
    settings = local_settings(tmp_path)
    a = write_topics(tmp_path / "a.txt", "alpha", ["fishing"])
    b = write_topics(tmp_path / "b.txt", "beta", ["tourism"])
    assert ingest(settings, embedder, [a, b]).ok
    summary = ingest(settings, embedder, [a], rebuild=True)
    assert summary.written and summary.chunks_unchanged == 0
    assert set(ids_by_doc(settings.open_store())) == {"a.txt"}


@pytest.mark.slow
def test_index_built_with_another_embedding_model_is_refused(tmp_path: Path, embedder: Embedder) -> None:
    from assistant.assistant import Assistant

    settings = local_settings(tmp_path)
    assert ingest(settings, embedder, [write_topics(tmp_path / "a.txt", "alpha", ["fishing"])]).ok
    store = settings.open_store()
    assert store.embedding_model() == embedder.name
    store.check_model(embedder.name)

    other = Settings(data_dir=settings.data_dir, chroma_host=None, embedding_model="other-model")
    with pytest.raises(StoreError) as info:
        other.open_store().check_model(other.embedder().name)
    message = str(info.value)
    assert "\n" not in message
    assert repr(embedder.name) in message and "'other-model'" in message
    assert "handbook ingest --rebuild" in message
    with pytest.raises(StoreError, match="other-model"):
        Assistant.from_settings(other)
    with pytest.raises(StoreError, match="other-model"):  # an ingest would mix two models: refused too
        ingest(other, other.embedder(), [tmp_path / "a.txt"])
    assert ingest(other, other.embedder(), [tmp_path / "a.txt"], rebuild=True).written
    assert other.open_store().embedding_model() == "other-model"


@pytest.mark.slow
def test_cli_ingest_reports_failures_and_exits_non_zero(cli: tuple[CliRunner, Path], tmp_path: Path) -> None:
    runner, data = cli
    docs = tmp_path / "docs"
    bad = make_bad_files(docs)
    write_topics(docs / "good.txt", "delta", ["fishing", "forestry"])
    missing = tmp_path / "missing.pdf"
    result = runner.invoke(runner.app, ["ingest", str(docs), str(missing)])  # type: ignore[attr-defined]
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == len(bad) + 1
    for path, reason in {**bad, missing: "no such file or folder"}.items():
        resolved = path if path == missing else path.resolve()
        assert sum(line.startswith(f"failed: {resolved}: {reason}") for line in lines) == 1, path
    assert result.stdout.startswith(f"index updated: {len(bad) + 1} file(s), ")
    ok = runner.invoke(runner.app, ["ingest", str(docs / "good.txt")])  # type: ignore[attr-defined]
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("index unchanged, nothing written")

    index = runner.invoke(runner.app, ["index", "--json"])  # type: ignore[attr-defined]
    assert index.exit_code == 0
    report = json.loads(index.stdout)
    assert {"documents", "chunks", "parts", "cases", "embedding_model"} <= set(report)
    assert [d["doc_id"] for d in report["documents"]] == ["good.txt"]
    assert report["chunks"] == report["documents"][0]["chunks"] > 0
    assert report["parts"] == {"other": report["chunks"]}
    assert report["embedding_model"] == "all-MiniLM-L6-v2"


@pytest.mark.slow
def test_cli_failure_lines_are_single_lines(
    cli: tuple[CliRunner, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, _ = cli
    monkeypatch.setenv("COLUMNS", "80")  # what rich uses when the output is a pipe
    docs = tmp_path / "docs"
    bad = make_bad_files(docs)
    result = runner.invoke(runner.app, ["ingest", str(docs)])  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()
    for path, reason in bad.items():
        assert any(line.startswith(f"failed: {path.resolve()}: {reason}") for line in lines), path
    assert any(
        line.startswith(("index updated: ", "index unchanged")) and line.endswith(" s")
        for line in result.stdout.splitlines()
    )


@pytest.mark.slow
def test_cli_failure_names_the_file_even_with_brackets_in_its_name(
    cli: tuple[CliRunner, Path], tmp_path: Path
) -> None:
    runner, _ = cli
    bad = tmp_path / "notes [draft].txt"
    bad.write_bytes("Café\n".encode("latin-1"))
    result = runner.invoke(runner.app, ["ingest", str(bad)])  # type: ignore[attr-defined]
    assert result.exit_code == 1
    assert f"failed: {bad}: not UTF-8 text" in result.stderr


@pytest.mark.slow
def test_cli_index_json_on_the_handbook(handbook_settings: Settings) -> None:
    result = subprocess.run(
        [*cli_command(), "index", "--json"],
        env=cli_env(handbook_settings.data_dir),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"documents", "chunks", "parts", "cases", "embedding_model"}
    assert report["chunks"] > 200
    assert [d["doc_id"] for d in report["documents"]] == ["tactics-cluster-internationalisation-handbook.txt"]
    assert set(report["parts"]) == {
        "front-matter", *(f"step-{n}" for n in range(1, 11)), "funding", "tube-map", "conclusions",
        "linkology", "glossary",
    }  # fmt: skip
    assert len(report["cases"]) == 22 and "mentoring" in report["cases"]
    assert report["embedding_model"] == "all-MiniLM-L6-v2"


# -- interrupted ingest ------------------------------------------------------------------------

#: Runs in a fresh process (no model, no torch): what the index at a path answers.
PROBE = r"""
import json, sys
from pathlib import Path
from ingest.store import ChunkStore
req = json.load(sys.stdin)
store = ChunkStore.open(path=Path(req["path"]))
print(json.dumps({
    "active": store.active_name(),
    "count": store.count(),
    "ids": sorted(r.chunk.chunk_id for r in store.all()),
    "top": [[c.chunk_id for c, _ in store.query(v, 5)] for v in req["vectors"]],
    "collections": sorted(c if isinstance(c, str) else c.name for c in store.client.list_collections()),
}))
"""
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_PROGRESS = re.compile(r"(reading|embedding|publishing)\b[^\d\r\n]*?(\d+)/(\d+)")


def probe(data_dir: Path, vectors: list[list[float]]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=json.dumps({"path": str(data_dir / "chroma"), "vectors": vectors}),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=cli_env(data_dir),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def ingest_and_kill(
    data_dir: Path, paths: list[Path], stage: str, at_least: int, delay: float
) -> tuple[bool, str]:
    """Run ``handbook ingest`` and SIGKILL it once its progress shows ``stage`` at ``at_least`` done.

    Returns (killed, last progress seen). The progress bar is read from the real CLI's stderr
    (rich renders it to a pipe when told the pipe is an interactive terminal).
    """
    env = cli_env(data_dir, TTY_INTERACTIVE="1", TTY_COMPATIBLE="1", NO_COLOR="1", COLUMNS="200")
    proc = subprocess.Popen(
        [*cli_command(), "ingest", *map(str, paths)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        while chunk := os.read(proc.stderr.fileno(), 65536):
            seen.append(chunk.decode("utf-8", "replace"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    last = ""
    killed = False
    deadline = time.monotonic() + 600
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            matches = _PROGRESS.findall(_ANSI.sub("", "".join(seen)))
            if matches:
                label, done, _ = matches[-1]
                last = f"{label} {done}"
                if label == stage and int(done) >= at_least:
                    time.sleep(delay)
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL)
                        killed = True
                    break
            time.sleep(0.01)
    finally:
        if proc.poll() is None and not killed:
            proc.kill()
        proc.wait(timeout=60)
        reader.join(timeout=10)
    if killed:
        assert proc.returncode == -signal.SIGKILL
    return killed, last


@pytest.mark.slow
def test_killed_ingest_leaves_the_previous_index_answering_as_before(
    tmp_path: Path, embedder: Embedder
) -> None:
    data = tmp_path / "data"
    base, extra = tmp_path / "base", tmp_path / "extra"
    base.mkdir()
    extra.mkdir()
    topics = [f"subject {k}" for k in range(150)]
    for n in range(4):  # ~600 short chunks: publishing the whole index takes a while
        write_topics(base / f"base-{n}.txt", f"region{n}", topics, sentences=1)
    for n in range(2):  # ~200 new chunks to embed
        write_topics(extra / f"extra-{n}.txt", f"extra{n}", topics[:100], sentences=2)
    queries = ["subject 42 in region2", "the extra1 cluster works on subject 7"]
    vectors = embedder.embed_documents(queries)

    built = subprocess.run(
        [*cli_command(), "ingest", str(base)], env=cli_env(data), cwd=REPO, capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    before = probe(data, vectors)
    assert before["count"] >= 500
    keys = ("active", "count", "ids", "top")

    kills = [
        ("embedding", 64, 0.0),  # first batch being embedded
        ("embedding", 192, 0.2),  # last batches
        ("publishing", 1, 0.0),  # writing the new collection
        ("publishing", 1, 0.5),
    ]
    outcomes: list[tuple[str, float, bool, str, dict[str, Any]]] = []
    for stage, at_least, delay in kills:
        killed, last = ingest_and_kill(data, [base, extra], stage, at_least, delay)
        after = probe(data, vectors)
        outcomes.append((stage, delay, killed, last, {k: after[k] for k in keys}))
        print(f"kill at {stage} {at_least}+{delay}s: killed={killed}, last {last!r}, {after['count']} chunks")
        if stage == "embedding":  # nothing is written before the embedding is done
            assert killed, last
            assert outcomes[-1][4] == {k: before[k] for k in keys}

    # The next ingest completes, cleans up what the killed ones left and gives the finished index.
    final = subprocess.run(
        [*cli_command(), "ingest", str(base), str(extra)], env=cli_env(data), cwd=REPO,
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr
    end = probe(data, vectors)
    assert end["count"] > before["count"]
    # Every kill left either the previous index, whole, or (when the pointer had already moved) the
    # finished one: never a mix, never a damaged one.
    for stage, _, _, _, state in outcomes:
        if state["count"] == before["count"]:
            assert state == {k: before[k] for k in keys}, stage
        else:
            assert {k: state[k] for k in keys[1:]} == {k: end[k] for k in keys[1:]}, stage
    # at least one kill landed inside publishing, and the previous index survived it
    assert any(o[0] == "publishing" and o[2] and o[4]["count"] == before["count"] for o in outcomes)
    assert end["collections"] == sorted([end["active"], "handbook-pointer"])  # leftovers dropped

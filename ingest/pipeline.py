"""The whole ingest: discover → load → segment → chunk → embed what is new → publish atomically."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.chunk import DEFAULT_OVERLAP, DEFAULT_SIZE, chunk_sections, contextual_text
from ingest.embed import Embedder
from ingest.example_index import EXAMPLE_FILES, build_examples
from ingest.examples import ExampleError
from ingest.load import LoadError, discover, load_document
from ingest.records import Chunk
from ingest.segment import segment, vocabulary_of
from ingest.store import ChunkStore, StoredChunk

Progress = Callable[[str, int, int], None]


@dataclass
class IngestSummary:
    """What an ingest did, for the CLI and the UI."""

    files: int = 0
    chunks_added: int = 0
    chunks_unchanged: int = 0
    chunks_removed: int = 0
    total_chunks: int = 0
    seconds: float = 0.0
    written: bool = False
    examples_rebuilt: bool = False
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what went in, but needs fixing (a bank quote)

    @property
    def ok(self) -> bool:
        """True when every file went in."""
        return not self.errors

    def line(self) -> str:
        """A one-line summary."""
        head = "index unchanged, nothing written" if not self.written else "index updated"
        return (
            f"{head}: {self.files} file(s), {self.chunks_added} chunk(s) added, {self.chunks_unchanged} unchanged, "
            f"{self.chunks_removed} removed, {self.total_chunks} in index, {len(self.errors)} failed, "
            f"{self.seconds:.1f} s"
        )


@dataclass
class Prepared:
    """A document that loaded and was cut into chunks."""

    doc_id: str
    source: str
    sha256: str
    chunks: list[Chunk]
    structure: dict[str, Any]


def prepare(path: Path, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP) -> Prepared:
    """Load, segment and chunk one file (no model needed); raises ``LoadError``."""
    document = load_document(path)
    seg = segment(document)
    chunks = chunk_sections(seg.sections, size, overlap, vocabulary_of(document))
    if not chunks:
        raise LoadError(path, "no text to index after cleaning: check the file's content")
    structure = {
        "source": str(path),
        "sha256": document.sha256,
        "is_handbook": seg.is_handbook,
        "step_titles": {str(k): v for k, v in seg.step_titles.items()},
        "cases": [asdict(c) for c in seg.cases],
        "checklists": [asdict(c) for c in seg.checklists],
    }
    return Prepared(document.doc_id, str(path), document.sha256, chunks, structure)


def _examples(
    paths: Iterable[Path | str],
    store: ChunkStore,
    embedder: Embedder,
    summary: IngestSummary,
    progress: Progress | None,
    chunks: Sequence[Chunk],
) -> None:
    """Embed the example files of the first ingested folder that has them (the corpus folder)."""
    folders = [Path(p) for p in paths if Path(p).is_dir()]
    home = next((f for f in folders if any((f / name).exists() for name in EXAMPLE_FILES)), None)
    if home is None:
        return
    try:
        built = build_examples(store, embedder, home, progress, chunks)
        summary.examples_rebuilt = built.rebuilt
        summary.warnings.extend(built.unattached)
    except ExampleError as exc:
        summary.errors.append(f"{exc}: fix the line and run `handbook ingest` again")


def run_ingest(
    paths: Iterable[Path | str],
    store: ChunkStore,
    embedder: Embedder,
    size: int = DEFAULT_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    rebuild: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest files and folders into the store; a failed file never damages the index."""
    started = time.perf_counter()
    summary = IngestSummary()
    paths = list(paths)
    files, errors = discover(paths)
    summary.errors.extend(str(e) for e in errors)
    summary.files = len(files)
    if not rebuild:  # a rebuild replaces the index, whatever model built it
        store.check_model(embedder.name)

    prepared: dict[str, Prepared] = {}
    for n, path in enumerate(files, start=1):
        if progress:
            progress(f"reading {path.name}", n, len(files))
        try:
            item = prepare(path, size, overlap)
        except LoadError as exc:
            summary.errors.append(str(exc))
            continue
        if item.doc_id in prepared:
            summary.errors.append(
                f"{path}: same file name as {prepared[item.doc_id].source}: rename one of them"
            )
            continue
        prepared[item.doc_id] = item

    existing = store.all(with_embeddings=True)
    old_structure = store.structure()
    old_by_id = {row.chunk.chunk_id: row for row in existing}
    # Files that failed are not in ``prepared``, so their previous chunks are kept untouched.
    keep_docs = {row.chunk.doc_id for row in existing} - set(prepared)
    if prune:
        keep_docs = {d for d in keep_docs if Path(old_structure.get(d, {}).get("source", "")).exists()}
    if rebuild:
        keep_docs = set()  # a rebuild re-reads everything it is given, and only that

    final: list[Chunk] = [row.chunk for row in existing if row.chunk.doc_id in keep_docs]
    for item in prepared.values():
        final.extend(item.chunks)
    final_ids = [c.chunk_id for c in final]
    summary.total_chunks = len(final_ids)
    reused = set(final_ids) & set(old_by_id) if not rebuild else set()
    summary.chunks_unchanged = len(reused)
    summary.chunks_added = len(final_ids) - len(reused)
    summary.chunks_removed = len(set(old_by_id) - set(final_ids))

    _examples(paths, store, embedder, summary, progress, final)
    if not rebuild and set(final_ids) == set(old_by_id):
        # Nothing to write, but a killed ingest may have left a generation behind after moving the pointer.
        store.cleanup_leftovers()
        summary.seconds = time.perf_counter() - started
        return summary

    todo = [c for c in final if c.chunk_id not in reused]
    vectors: dict[str, list[float]] = {}
    for start in range(0, len(todo), 64):
        batch = todo[start : start + 64]
        if progress:
            progress("embedding", start + len(batch), len(todo))
        for chunk, vector in zip(
            batch, embedder.embed_documents([contextual_text(c) for c in batch]), strict=True
        ):
            vectors[chunk.chunk_id] = vector
    rows = [
        StoredChunk(c, vectors[c.chunk_id] if c.chunk_id in vectors else old_by_id[c.chunk_id].embedding)
        for c in final
    ]
    structure = {d: old_structure[d] for d in keep_docs if d in old_structure}
    structure.update({item.doc_id: item.structure for item in prepared.values()})
    if progress:
        progress("publishing", 1, 1)
    store.publish(rows, embedder.name, embedder.dimension, structure)
    summary.written = True
    summary.seconds = time.perf_counter() - started
    return summary

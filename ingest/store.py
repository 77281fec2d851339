"""The Chroma index: a local persistent store or a Chroma server, swapped in atomically.

Readers follow a pointer (the metadata of a small ``<name>-pointer`` collection) to the active
collection. An ingest writes a complete new collection and only then moves the pointer, so an
ingest that fails or is killed half-way leaves the previous index fully usable; leftovers of such
an ingest are removed by the next one.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from ingest.records import Chunk

BATCH = 256
SEARCH_BEAM = 256  # HNSW ef: candidates examined per query and per insertion


class StoreError(RuntimeError):
    """The index cannot be used as asked; the message says why and what to run."""


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as stored, with its vector."""

    chunk: Chunk
    embedding: list[float]


class ChunkStore:
    """Chunks and their vectors in Chroma, with the embedding model recorded on the collection."""

    def __init__(self, client: Any, name: str, location: str) -> None:
        self.client = client
        self.name = name
        self.location = location
        self._pointer_name = f"{name}-pointer"

    @classmethod
    def open(
        cls,
        path: Path | None = None,
        host: str | None = None,
        port: int | None = None,
        name: str = "handbook",
    ) -> ChunkStore:
        """A local persistent store at ``path``, or a Chroma server when ``host`` is given."""
        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if host:
            try:
                client = chromadb.HttpClient(host=host, port=port or 8000, settings=settings)
                client.heartbeat()
            except Exception as exc:
                raise StoreError(
                    f"cannot reach the Chroma server at {host}:{port or 8000} ({type(exc).__name__}): "
                    "start it with `chroma run` or unset HANDBOOK_CHROMA_HOST"
                ) from exc
            return cls(client, name, f"http://{host}:{port or 8000}")
        if path is None:
            raise StoreError("no Chroma location: set HANDBOOK_CHROMA_PATH or HANDBOOK_CHROMA_HOST")
        path.mkdir(parents=True, exist_ok=True)
        return cls(chromadb.PersistentClient(path=str(path), settings=settings), name, str(path))

    # -- reading ---------------------------------------------------------------------------
    def active_name(self) -> str | None:
        """Name of the collection readers use, or None when nothing is indexed yet."""
        try:
            pointer = self.client.get_collection(self._pointer_name, embedding_function=None)
        except (NotFoundError, ValueError):
            return None  # nothing indexed yet
        except Exception as exc:  # a server that went away: say so, never pretend the index is empty
            raise StoreError(
                f"cannot reach the index at {self.location} ({type(exc).__name__}): is the Chroma server running?"
            ) from exc
        active = (pointer.metadata or {}).get("active")
        return str(active) if active else None

    def _active(self) -> Any | None:
        name = self.active_name()
        if name is None:
            return None
        try:
            return self.client.get_collection(name, embedding_function=None)
        except Exception as exc:
            raise StoreError(
                f"the index at {self.location} is damaged ({exc}): run `handbook ingest --rebuild`"
            ) from exc

    def embedding_model(self) -> str | None:
        """The embedding model the active collection was built with."""
        collection = self._active()
        return None if collection is None else str((collection.metadata or {}).get("embedding_model"))

    def check_model(self, model_name: str) -> None:
        """Refuse to query an index built with another embedding model."""
        built = self.embedding_model()
        if built is not None and built != model_name:
            raise StoreError(
                f"the index was built with embedding model {built!r} but settings use {model_name!r}: "
                "run `handbook ingest --rebuild` or set HANDBOOK_EMBEDDING_MODEL back"
            )

    def count(self) -> int:
        """Number of chunks in the active collection."""
        collection = self._active()
        return 0 if collection is None else int(collection.count())

    def all(self, with_embeddings: bool = False) -> list[StoredChunk]:
        """Every stored chunk (in no particular order)."""
        collection = self._active()
        if collection is None:
            return []
        include = ["documents", "metadatas"] + (["embeddings"] if with_embeddings else [])
        out: list[StoredChunk] = []
        total = collection.count()
        for offset in range(0, total, 1000):
            got = collection.get(include=include, limit=1000, offset=offset)
            embeddings = got.get("embeddings")
            for i, chunk_id in enumerate(got["ids"]):
                chunk = Chunk.from_metadata(chunk_id, got["documents"][i], got["metadatas"][i] or {})
                vector = (
                    [float(x) for x in embeddings[i]] if with_embeddings and embeddings is not None else []
                )
                out.append(StoredChunk(chunk, vector))
        return out

    def query(
        self, embedding: Sequence[float], k: int, where: dict[str, Any] | None = None
    ) -> list[tuple[Chunk, float]]:
        """The ``k`` nearest chunks with their cosine similarity, optionally filtered by metadata."""
        collection = self._active()
        if collection is None:
            return []
        n = min(k, collection.count())
        if n <= 0:
            return []
        got = collection.query(
            query_embeddings=[list(embedding)],
            n_results=n,
            where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        return [
            (Chunk.from_metadata(cid, doc, meta or {}), 1.0 - float(dist))
            for cid, doc, meta, dist in zip(
                got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True
            )
        ]

    # -- writing ---------------------------------------------------------------------------
    def structure(self) -> dict[str, Any]:
        """The per-document structure (cases, checklists, sources) saved with the active collection."""
        collection = self._active()
        raw = (collection.metadata or {}).get("structure") if collection is not None else None
        return json.loads(raw) if raw else {}

    def publish(
        self,
        rows: Sequence[StoredChunk],
        model_name: str,
        dimension: int,
        structure: dict[str, Any] | None = None,
    ) -> str:
        """Write ``rows`` as a new collection, then make it the active one; returns its name."""
        self.cleanup_leftovers()
        new_name = f"{self.name}-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
        collection = self.client.create_collection(
            new_name,
            embedding_function=None,
            # A wide search beam keeps approximate search close to exact for a handbook-sized
            # collection; the retriever over-fetches and re-sorts, so every process ranks alike.
            configuration={
                "hnsw": {"space": "cosine", "ef_search": SEARCH_BEAM, "ef_construction": SEARCH_BEAM}
            },
            metadata={"embedding_model": model_name, "dimension": dimension, "building": True},
        )
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            collection.add(
                ids=[r.chunk.chunk_id for r in batch],
                embeddings=[r.embedding for r in batch],  # type: ignore[arg-type]
                documents=[r.chunk.text for r in batch],
                metadatas=[r.chunk.metadata() for r in batch],  # type: ignore[misc]
            )
        collection.modify(
            metadata={
                "embedding_model": model_name,
                "dimension": dimension,
                "building": False,
                # Collection metadata travels with the collection, also to a Chroma server, so every
                # app process sees the same cases and checklists as the chunks.
                "structure": json.dumps(structure or {}, ensure_ascii=False),
            }
        )
        old = self.active_name()
        self._set_pointer(new_name, model_name)
        if old and old != new_name:
            self._drop(old)
        return new_name

    def _set_pointer(self, active: str, model_name: str) -> None:
        pointer = self.client.get_or_create_collection(
            self._pointer_name, embedding_function=None, metadata={"active": active}
        )
        pointer.modify(metadata={"active": active, "embedding_model": model_name})

    def cleanup_leftovers(self) -> int:
        """Drop collections of this index that an interrupted ingest left behind."""
        active = self.active_name()
        dropped = 0
        for collection in self.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            # Only this index's own generations (``<name>-YYYYmmddHHMMSS-xxxxxx``, as ``publish`` names
            # them): a prefix match would also drop another index, e.g. ``handbook-v2`` for ``handbook``.
            generation = re.fullmatch(rf"{re.escape(self.name)}-\d{{14}}-[0-9a-f]{{6}}", name)
            if generation and name != active:
                self._drop(name)
                dropped += 1
        return dropped

    def _drop(self, name: str) -> None:
        with contextlib.suppress(Exception):  # already gone: nothing to do
            self.client.delete_collection(name)

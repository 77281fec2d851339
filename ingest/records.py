"""Typed records passed between the ingest stages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from ingest.handbook import HANDBOOK_PARTS

Audience = Literal["cluster_organisation", "policy_maker", "both"]

#: Parts of the handbook, in reading order. Documents that are not the handbook use ``other``.
PARTS: tuple[str, ...] = (*HANDBOOK_PARTS, "other")

#: Sections inside a step (and inside Utilise Funding), in the order the handbook uses them.
STEP_SECTIONS: tuple[str, ...] = ("overview", "useful-tools", "practical-examples", "step-completion")


@dataclass(frozen=True)
class Line:
    """One line of extracted text with where it came from."""

    text: str
    line_no: int  # 1-based line number in the source text (per page for PDFs)
    page: int | None = None  # 1-based PDF page, None for text files


@dataclass(frozen=True)
class Document:
    """A loaded source file: its lines, in order."""

    doc_id: str
    path: str
    kind: Literal["pdf", "txt", "md"]
    lines: tuple[Line, ...]
    sha256: str


@dataclass
class Section:
    """A contiguous span of a document that belongs to one part, section and (maybe) case."""

    doc_id: str
    part: str
    section: str
    heading_path: tuple[str, ...]
    lines: list[Line]
    step: int | None = None
    step_title: str | None = None
    case_id: str | None = None
    case_title: str | None = None
    audience: Audience | None = None

    @property
    def line_start(self) -> int:
        """First source line of the section."""
        return self.lines[0].line_no if self.lines else 0

    @property
    def line_end(self) -> int:
        """Last source line of the section."""
        return self.lines[-1].line_no if self.lines else 0


@dataclass(frozen=True)
class ChecklistItem:
    """One question of a step-completion checklist."""

    text: str
    audience: Audience


@dataclass(frozen=True)
class Checklist:
    """The step-completion checklist of a step (or of Utilise Funding): items and where to go next."""

    part: str
    step: int | None
    intro: str
    items: tuple[ChecklistItem, ...]
    next_words: tuple[str, ...]

    def for_role(self, role: str | None) -> tuple[ChecklistItem, ...]:
        """Items that apply to a role (``cluster_organisation``, ``policy_maker``; None gives all)."""
        if role is None:
            return self.items
        return tuple(i for i in self.items if i.audience in (role, "both"))


@dataclass(frozen=True)
class Case:
    """A case study of the handbook with the step it illustrates."""

    case_id: str
    title: str
    part: str
    step: int | None
    challenge: str
    description: str
    key_lessons: tuple[str, ...]
    contact: str
    line_start: int
    line_end: int


@dataclass
class Chunk:
    """A retrievable piece of a section with all the metadata that locates it."""

    doc_id: str
    text: str
    part: str
    section: str
    heading_path: tuple[str, ...]
    line_start: int
    line_end: int
    step: int | None = None
    step_title: str | None = None
    case_id: str | None = None
    case_title: str | None = None
    audience: Audience | None = None
    page: int | None = None
    page_end: int | None = None
    ordinal: int = 0
    chunk_id: str = field(default="")
    content_hash: str = field(default="")

    def __post_init__(self) -> None:
        if not self.content_hash:
            self.content_hash = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        if not self.chunk_id:
            key = "|".join(
                str(v)
                for v in (
                    self.part,
                    self.section,
                    self.case_id,
                    self.audience,
                    self.ordinal,
                    self.content_hash,
                )
            )
            self.chunk_id = f"{self.doc_id}:{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    def metadata(self) -> dict[str, str | int | float | bool]:
        """Flat metadata for the vector store (no None values: Chroma rejects them)."""
        raw: dict[str, str | int | None] = {
            "doc_id": self.doc_id,
            "part": self.part,
            "section": self.section,
            "heading_path": " > ".join(self.heading_path),
            "line_start": self.line_start,
            "line_end": self.line_end,
            "step": self.step,
            "step_title": self.step_title,
            "case_id": self.case_id,
            "case_title": self.case_title,
            "audience": self.audience,
            "page": self.page,
            "page_end": self.page_end,
            "ordinal": self.ordinal,
            "content_hash": self.content_hash,
        }
        return {k: v for k, v in raw.items() if v is not None}

    @classmethod
    def from_metadata(cls, chunk_id: str, text: str, meta: dict) -> Chunk:
        """Rebuild a chunk from what the store returns."""
        heading = str(meta.get("heading_path", ""))
        return cls(
            chunk_id=chunk_id,
            text=text,
            doc_id=str(meta.get("doc_id", "")),
            part=str(meta.get("part", "other")),
            section=str(meta.get("section", "")),
            heading_path=tuple(heading.split(" > ")) if heading else (),
            line_start=int(meta.get("line_start", 0)),
            line_end=int(meta.get("line_end", 0)),
            step=_opt_int(meta.get("step")),
            step_title=_opt_str(meta.get("step_title")),
            case_id=_opt_str(meta.get("case_id")),
            case_title=_opt_str(meta.get("case_title")),
            audience=_opt_str(meta.get("audience")),  # type: ignore[arg-type]
            page=_opt_int(meta.get("page")),
            page_end=_opt_int(meta.get("page_end")),
            ordinal=int(meta.get("ordinal", 0)),
            content_hash=str(meta.get("content_hash", "")),
        )


def _opt_int(v: object) -> int | None:
    return None if v is None else int(v)  # type: ignore[call-overload]


def _opt_str(v: object) -> str | None:
    return None if v is None else str(v)

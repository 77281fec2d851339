"""Cut sections into chunks of whole sentences, never across two sections.

Step by step, for each section:

1. ``reflow`` its cleaned lines into text, keeping the source line of every character.
2. Split the text into blocks (paragraphs, bullets) and each block into sentences with pysbd;
   a sentence longer than the chunk size is cut at word boundaries.
3. Pack sentences greedily into chunks of at most ``size`` characters. A new chunk starts with the
   last sentences of the previous one, up to ``overlap`` characters, so a passage that straddles
   a boundary is still whole in one chunk.
4. Every chunk inherits the section's metadata plus its own line span and pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from ingest.clean import EMPTY_VOCABULARY, Vocabulary, reflow
from ingest.records import Chunk, Section

DEFAULT_SIZE = 800
DEFAULT_OVERLAP = 150

Span = tuple[int, int]


@lru_cache(maxsize=1)
def _segmenter():  # type: ignore[no-untyped-def]
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentence_spans(text: str, max_len: int) -> list[Span]:
    """Character spans of the sentences of ``text`` (blocks first, then pysbd, then long-cut)."""
    spans: list[Span] = []
    for block in re.finditer(r"[^\n]+", text):
        offset = block.start()
        body = block.group(0)
        if not body.strip():
            continue
        pieces = _segmenter().segment(body) if len(body) > 80 else None
        local = [(offset + p.start, offset + p.end) for p in pieces] if pieces else [(offset, block.end())]
        for start, end in local:
            spans.extend(_cut_long(text, start, end, max_len))
    return [(s, e) for s, e in (_trim(text, s, e) for s, e in spans) if e > s]


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_long(text: str, start: int, end: int, max_len: int) -> list[Span]:
    out: list[Span] = []
    while end - start > max_len:
        cut = text.rfind(" ", start, start + max_len)
        if cut <= start:
            cut = start + max_len
        out.append((start, cut))
        start = cut
    out.append((start, end))
    return out


def pack(spans: Sequence[Span], size: int, overlap: int) -> list[Span]:
    """Group consecutive sentence spans into chunk spans of at most ``size`` characters."""
    chunks: list[Span] = []
    current: list[Span] = []
    for span in spans:
        if current and span[1] - current[0][0] > size:
            chunks.append((current[0][0], current[-1][1]))
            carried: list[Span] = []
            for prev in reversed(current):
                if (current[-1][1] - prev[0]) > overlap or span[1] - prev[0] > size:
                    break
                carried.insert(0, prev)
            # Never carry the whole previous chunk: that would repeat it.
            current = carried if len(carried) < len(current) else []
        current.append(span)
    if current:
        chunks.append((current[0][0], current[-1][1]))
    return chunks


def chunk_section(
    section: Section,
    size: int = DEFAULT_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    vocabulary: Vocabulary = EMPTY_VOCABULARY,
) -> list[Chunk]:
    """Chunks of one section, in reading order."""
    text, origin = reflow(section.lines, vocabulary)
    chunks: list[Chunk] = []
    for start, end in pack(sentence_spans(text, size), size, overlap):
        first, last = section.lines[origin[start]], section.lines[origin[end - 1]]
        chunks.append(
            Chunk(
                doc_id=section.doc_id,
                text=text[start:end],
                part=section.part,
                section=section.section,
                heading_path=section.heading_path,
                line_start=first.line_no,
                line_end=last.line_no,
                step=section.step,
                step_title=section.step_title,
                case_id=section.case_id,
                case_title=section.case_title,
                audience=section.audience,
                page=first.page,
                page_end=last.page,
            )
        )
    return chunks


def chunk_sections(
    sections: Iterable[Section],
    size: int = DEFAULT_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    vocabulary: Vocabulary = EMPTY_VOCABULARY,
) -> list[Chunk]:
    """Chunks of many sections; ordinals make ids unique when two chunks have the same text."""
    out: list[Chunk] = []
    seen: dict[str, int] = {}
    merged: list[Chunk] = []
    for section in sections:
        for chunk in chunk_section(section, size, overlap, vocabulary):
            if merged and _absorbs(merged[-1], chunk, size):
                merged[-1] = _join(merged[-1], chunk)
            else:
                merged.append(chunk)
    for chunk in merged:
        if chunk.chunk_id in seen:
            seen[chunk.chunk_id] += 1
            chunk = Chunk(**{**_fields(chunk), "ordinal": seen[chunk.chunk_id], "chunk_id": ""})
        else:
            seen[chunk.chunk_id] = 0
        out.append(chunk)
    return out


MIN_CHUNK = 200


def _absorbs(previous: Chunk, chunk: Chunk, size: int) -> bool:
    """A tiny chunk (a case's contact line, "If the answers are positive …") joins the chunk before it.

    Tiny chunks match almost any query in dense search and crowd out real passages; they only join a
    chunk of the same document, part, section and case, and never across two audiences.
    """
    return (
        len(chunk.text) < MIN_CHUNK
        and previous.doc_id == chunk.doc_id
        and previous.part == chunk.part
        and previous.section == chunk.section
        and previous.case_id == chunk.case_id
        and (chunk.audience is None or chunk.audience == previous.audience)
        and len(previous.text) + len(chunk.text) < size
    )


def _join(previous: Chunk, chunk: Chunk) -> Chunk:
    fields = _fields(previous)
    fields.update(
        text=f"{previous.text}\n{chunk.text}",
        line_end=chunk.line_end,
        page_end=chunk.page_end,
        chunk_id="",
        content_hash="",
    )
    return Chunk(**fields)


def _fields(chunk: Chunk) -> dict:
    from dataclasses import asdict

    return asdict(chunk)


def contextual_text(chunk: Chunk) -> str:
    """What gets embedded and indexed for BM25: the heading path, then the chunk's own text."""
    head = " > ".join(chunk.heading_path)
    return f"{head}\n{chunk.text}" if head else chunk.text

"""Clean extraction artifacts without changing words.

Two levels, so that every character keeps the source line (and page) it came from:

1. ``clean_line`` works on one line and keeps the line count: NFKC (ligatures), control characters,
   the ``■`` and NUL characters pypdf emits, tabs between words, bullet glyphs, and page numbers
   glued to the start of a line (``19OVERVIEW``, `` 2222 demonstrators``).
2. ``reflow`` joins the cleaned lines of one section into readable text: hyphenated line breaks
   are joined (``interna-`` + ``tionalisation``) unless the hyphen is real (``cross-border``),
   lines of a paragraph are joined with a space, bullets start new lines. It returns the text and,
   for every character, the index of the line it came from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ingest.records import Line

BULLET = "•"
# Glyphs PDF extractors use for bullets; all become one bullet so later stages see one marker.
_BULLET_GLYPHS = "•●▪▫◦‣∙◆◇□■➢➤✓✔\uf0b7\uf0a7\uf076\uf0d8\uf0fc"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]")
_LEADING_BULLET = re.compile(rf"^\s*[{re.escape(_BULLET_GLYPHS)}]\s*")
# A page number (1–3 digits, sometimes printed twice, e.g. "2424") at the start of a line, where the
# layout glued it to the text: directly to a word ("19OVERVIEW", " 39means"), before a capital
# ("34 Case 7a", "12 BEYOND"), or after the leading space that marks a page break (" 60 tween").
# "4) is the", "30.000, and", "3D printing" and "13 milieus were" keep their numbers.
_GLUED_PAGE = re.compile(
    r"^(?:\s*(\d{1,3})(?:\1)?(?=[A-Za-z“\"]{3}|[A-Z][a-z]\b)|\s*(\d{1,3})(?:\2)?\s+(?=[A-Z“\"])|\s+(\d{1,3})(?:\3)?\s+(?=[a-z]))"
)
_ONLY_PAGE = re.compile(r"^\s*\d{1,3}\s*$")
_SPACES = re.compile(r"[ \t\u00a0]+")


def clean_line(text: str) -> str:
    """Clean one extracted line, keeping its words and its place (never splits or merges lines)."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    if _ONLY_PAGE.match(text):
        return ""
    text = _GLUED_PAGE.sub("", text, count=1)
    bullet = bool(_LEADING_BULLET.match(text))
    text = _LEADING_BULLET.sub("", text)
    text = text.replace("■", " ")
    text = _SPACES.sub(" ", text).strip()
    if bullet and text:
        return f"{BULLET} {text}"
    return text


def clean_lines(lines: Iterable[Line]) -> list[Line]:
    """Clean every line; line numbers and pages stay as they were."""
    return [Line(clean_line(line.text), line.line_no, line.page) for line in lines]


_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
_HYPHEN_END = re.compile(r"([A-Za-z]+)-$")
_START_WORD = re.compile(r"^([a-z][A-Za-z]*)")


@dataclass(frozen=True)
class Vocabulary:
    """Words and hyphenated compounds seen inside lines: decides whether a line-end hyphen is real."""

    words: frozenset[str]
    compounds: frozenset[str]

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> Vocabulary:
        """Collect the vocabulary of a document from its (cleaned) lines."""
        words: set[str] = set()
        compounds: set[str] = set()
        for text in lines:
            body = text[:-1] if text.endswith("-") else text
            words.update(w.lower() for w in _WORD.findall(body))
            compounds.update(c.lower() for c in re.findall(r"[A-Za-z]+-[A-Za-z]+", body))
        return cls(frozenset(words), frozenset(compounds))

    def keep_hyphen(self, left: str, right: str) -> bool:
        """True when ``left-`` + ``right`` is a real hyphenated word rather than a broken one."""
        compound = f"{left}-{right}".lower()
        joined = f"{left}{right}".lower()
        return bool(compound in self.compounds and joined not in self.words)


EMPTY_VOCABULARY = Vocabulary(frozenset(), frozenset())
_SENTENCE_END = re.compile(r"[.!?:;)”\"]\s*$")
# Lines at least this long filled the column, so the sentence they end may go on after a break.
_WRAPPED = 45


def reflow(lines: Sequence[Line], vocabulary: Vocabulary = EMPTY_VOCABULARY) -> tuple[str, list[int]]:
    """Join cleaned lines into text; returns the text and the index into ``lines`` of every character."""
    out: list[str] = []
    origin: list[int] = []

    def emit(s: str, idx: int) -> None:
        out.append(s)
        origin.extend([idx] * len(s))

    pending_blank = False
    prev: str | None = None
    for idx, line in enumerate(lines):
        text = line.text
        if not text:
            pending_blank = prev is not None
            continue
        if prev is None:
            emit(text, idx)
        else:
            starts_item = text.startswith((BULLET, "- ", "–"))
            hyphen = _HYPHEN_END.search(prev)
            start = _START_WORD.match(text)
            in_url = "/" in prev.rsplit(" ", 1)[-1]
            if hyphen and start and not starts_item and in_url:
                emit(text, idx)  # a URL broken at its own hyphen: keep the hyphen, add no space
            elif hyphen and start and not starts_item:
                # A word broken across lines: join, keeping the hyphen only when it is real.
                if vocabulary.keep_hyphen(hyphen.group(1), start.group(1)):
                    emit(text, idx)
                else:
                    out[-1] = out[-1][:-1]
                    origin.pop()
                    emit(text, idx)
            elif starts_item:
                emit("\n" + text, idx)
            elif pending_blank and (
                _SENTENCE_END.search(prev) or (text[:1].isupper() and len(prev) < _WRAPPED)
            ):
                # A blank line ends a paragraph, unless it falls inside a sentence that wrapped at
                # full line width (extraction inserts such blanks at column and page breaks).
                emit("\n\n" + text, idx)
            elif _SENTENCE_END.search(prev) and text[:1].isupper():
                emit("\n" + text, idx)  # keeps labels and checklist questions on lines of their own
            elif (
                len(prev) < _WRAPPED
                and text[:1].isupper()
                and not prev.endswith((",", "-", "&", "and", "of", "the"))
            ):
                emit("\n" + text, idx)  # a short line is a title or a list item whose glyph was lost
            else:
                emit(" " + text, idx)
        prev = text
        pending_blank = False
    return "".join(out), origin

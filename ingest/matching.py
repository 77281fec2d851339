"""Quote matching: is a short snippet contained in a text, modulo layout artifacts (evidence, bank quotes)?"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# A letter, "-", optional spaces/tabs, a newline, optional whitespace, then a letter:
# a word hyphenated across a line break ("interna-\ntionalisation").
_HYPHEN_BREAK = re.compile(r"([^\W\d_])-[ \t]*\r?\n\s*(?=[^\W\d_])")
# Runs of Unicode letters/digits (underscore excluded); everything else separates tokens.
_TOKEN = re.compile(r"[^\W_]+")


def _normalise(text: str) -> str:
    """NFKC-normalise, join hyphenated line breaks and lowercase."""
    text = unicodedata.normalize("NFKC", text)
    text = _HYPHEN_BREAK.sub(r"\1", text)
    return text.lower()


def tokens(text: str) -> list[str]:
    """Lowercase alphanumeric tokens of text after NFKC and joining hyphenated line breaks."""
    return _TOKEN.findall(_normalise(text))


@lru_cache(maxsize=65536)
def _padded(text: str) -> str:
    """Tokens of text joined by single spaces, with a space at each end (cached)."""
    return " " + " ".join(tokens(text)) + " "


def contains(snippet: str, text: str) -> bool:
    """True if the snippet's tokens appear contiguously in the text's tokens (empty snippet: False)."""
    needle = _padded(snippet)
    if needle == "  ":
        return False
    return needle in _padded(text)

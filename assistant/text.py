"""Text helpers shared by retrieval, answering and verification: terms, stems, overlap."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

# English function words plus the question words users wrap around a topic.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "eg",
        "ie",
        "etc",
        "also",
        "may",
        "might",
        "must",
        "shall",
        "us",
        "tell",
        "say",
        "says",
        "said",
        "give",
        "gives",
        "please",
        "handbook",
        "according",
        "explain",
        "describe",
    ]
)

_TOKEN = re.compile(r"[a-z0-9]+")
_HYPHEN_BREAK = re.compile(r"([A-Za-z])-\s*\n\s*([A-Za-z])")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lowercase alphanumeric tokens after NFKC (the evaluation's matching rule uses the same)."""
    text = unicodedata.normalize("NFKC", text)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    return _TOKEN.findall(text.lower())


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    # British and American spellings meet before stemming: organization -> organisation.
    if "iz" in word:
        word = word.replace("ization", "isation").replace("izing", "ising").replace("ize", "ise")
    return str(_stemmer().stemWord(word))


_COMPOUND = re.compile(r"\b([A-Za-z]+)-([A-Za-z]+)\b")


def terms(text: str) -> list[str]:
    """Stemmed content terms: stop words dropped, used by BM25 and by the overlap checks.

    A hyphenated compound also yields its joined form, so "on-line" meets "online".
    """
    out = [_stem(w) for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    out.extend(_stem((a + b).lower()) for a, b in _COMPOUND.findall(text))
    return out


def overlap(claim: str, source: str) -> float:
    """Share of the claim's content terms that appear in the source (1.0 when the claim has none)."""
    claim_terms = set(terms(claim))
    if not claim_terms:
        return 1.0
    return len(claim_terms & set(terms(source))) / len(claim_terms)


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


def split_sentences(text: str) -> list[str]:
    """A message cut at sentence ends (".", "!", "?", ";" followed by space), as a reader sees it."""
    return _SENTENCE_END.split(text.strip())

"""Closeness to the reference answer: ``reference_similarity`` and ``rouge_l``.

Both compare the answer text, with its citation marks [n] removed, to the item's ``reference_answer``;
items without a reference or answers without text are not counted. Both aggregate as the mean.

``reference_similarity``, step by step:

1. Embed the answer and the reference with the bundled embedding model (``settings.embedder()``,
   all-MiniLM-L6-v2, the same model that indexes the handbook); all texts of a run in one batch.
2. The value is the cosine similarity of the two vectors.

``rouge_l``, step by step:

1. Tokenise both texts into lowercase word tokens (``evals.matching.tokens``).
2. Compute the length of their longest common subsequence (LCS) by dynamic programming.
3. Precision = LCS / answer tokens, recall = LCS / reference tokens; the value is their harmonic mean
   (the F1 measure; 0 when either text is empty or they share no token).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from assistant.verify import CITATION_MARK
from evals.matching import tokens
from evals.metrics.base import Metric, Sample, Score


def _plain(text: str) -> str:
    """The text without citation marks (they are references, not content)."""
    return CITATION_MARK.sub("", text)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (one DP row at a time)."""
    if len(b) > len(a):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 of a candidate against a reference over lowercase word tokens."""
    cand, ref = tokens(candidate), tokens(reference)
    lcs = lcs_length(cand, ref) if cand and ref else 0
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0 for a zero vector)."""
    dot = sum(x * y for x, y in zip(u, v, strict=True))
    norm = math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(y * y for y in v))
    return dot / norm if norm else 0.0


def _pair(sample: Sample) -> tuple[str, str] | None:
    answer, reference = _plain(sample.answer.text).strip(), sample.item.reference_answer.strip()
    return (answer, reference) if answer and reference else None


class ReferenceSimilarity(Metric):
    """Mean cosine similarity between the embedded answer text and the embedded reference answer."""

    name = "reference_similarity"

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder  # a LangChain ``Embeddings``
        self._vectors: dict[str, list[float]] = {}

    def prepare(self, samples: Sequence[Sample]) -> None:
        # One batch for the whole run: embedding texts one by one is many times slower on a CPU.
        """Embed every answer and reference of the run in one batch."""
        texts = list(dict.fromkeys(t for s in samples if (pair := _pair(s)) for t in pair))
        self._vectors = dict(zip(texts, self.embedder.embed_documents(texts), strict=True)) if texts else {}

    def _vector(self, text: str) -> list[float]:
        if text not in self._vectors:
            self._vectors[text] = self.embedder.embed_documents([text])[0]
        return self._vectors[text]

    def score(self, sample: Sample) -> Score | None:
        """Cosine of the embedded answer and reference; None when either is empty."""
        pair = _pair(sample)
        if pair is None:
            return None
        return Score(cosine(self._vector(pair[0]), self._vector(pair[1])))


class RougeL(Metric):
    """Mean ROUGE-L F1 (longest common subsequence of lowercase word tokens) of answer against reference."""

    name = "rouge_l"

    def score(self, sample: Sample) -> Score | None:
        """ROUGE-L F1 of answer and reference; None when either is empty."""
        pair = _pair(sample)
        return None if pair is None else Score(rouge_l(*pair))

"""Scope by examples: how close a question is to questions the handbook answers, against those it does not.

The margin is the best cosine to an in-scope example (the question bank, and the chunks of documents
that users added, which have no bank) minus the best cosine to an out-of-scope example. Measured with
the bundled model, it separates near-miss questions (HR, legal, IT tools …) that relevance scores
alone cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ingest.example_index import BANK, OFF_TOPIC, ExampleVectors, load_example_vectors, unit_rows
from ingest.store import ChunkStore

#: The topic of the off-topic examples about facts after the handbook was written.
AFTER_2014 = "after_2014"
#: How a refusal names the topic of the nearest out-of-scope example.
TOPIC_WORDS: dict[str, str] = {
    "hr": "HR and hiring",
    "legal": "legal advice",
    "it_tools": "IT tools",
    "accounting": "accounting and tax",
    "marketing": "marketing",
    "travel_events": "travel and event logistics",
    AFTER_2014: "facts after the handbook was written (2012)",
    "writing_tasks": "a writing task",
    "general_business": "general business advice",
    "unrelated": "a topic unrelated to cluster internationalisation",
}


@dataclass(frozen=True)
class Margin:
    """A question's margin, and the topic of its nearest out-of-scope example."""

    value: float
    nearest_topic: str


class ScopeExamples:
    """In-scope and out-of-scope examples as unit vectors, ready for exact cosines."""

    def __init__(self, in_scope: ExampleVectors, out_of_scope: ExampleVectors) -> None:
        self.in_scope, self.out_of_scope = in_scope, out_of_scope
        self._after_the_handbook = np.array(
            [label == AFTER_2014 for label in out_of_scope.labels], dtype=bool
        )

    @classmethod
    def from_store(cls, store: ChunkStore, own_documents: Sequence[str] = ()) -> ScopeExamples | None:
        """The examples stored at ingest, plus the chunks of ``own_documents`` (doc ids) as in-scope rows."""
        stored = load_example_vectors(store)
        if BANK not in stored or OFF_TOPIC not in stored:
            return None
        bank = stored[BANK]
        wanted = set(own_documents)
        added = (
            [row for row in store.all(with_embeddings=True) if row.chunk.doc_id in wanted] if wanted else []
        )
        if added:
            bank = ExampleVectors(
                np.vstack([bank.vectors, unit_rows([row.embedding for row in added])]),
                bank.texts + tuple(row.chunk.text for row in added),
                bank.labels + tuple("" for _ in added),
            )
        return cls(bank, stored[OFF_TOPIC])

    def margin(self, vector: Sequence[float], after_the_handbook: bool = True) -> Margin:
        """Best in-scope cosine minus best out-of-scope cosine for a question vector.

        ``after_the_handbook`` False: the examples of facts after the handbook are left out; their
        topics are often the handbook's own (a case), only their time is not.
        """
        unit = unit_rows([list(vector)])[0]
        ((_, inside),) = self.in_scope.best(unit)
        cosines = self.out_of_scope.vectors @ unit
        if not after_the_handbook:
            cosines = np.where(self._after_the_handbook, -1.0, cosines)
        row = int(np.argmax(cosines))
        return Margin(round(inside - float(cosines[row]), 4), self.out_of_scope.labels[row])

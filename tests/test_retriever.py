"""The LangChain retriever passes LangChain's standard retriever suite, over the real index."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableLambda
from langchain_tests.integration_tests import RetrieversIntegrationTests

from assistant.retrieve import Filters
from assistant.retriever import HandbookRetriever

pytestmark = pytest.mark.slow


class TestHandbookRetriever(RetrieversIntegrationTests):
    """LangChain's standard suite: k in the constructor and in invoke, sync and async."""

    bound = None

    @pytest.fixture(autouse=True)
    def _bind(self, assistant) -> None:  # type: ignore[no-untyped-def]
        type(self).bound = assistant

    @property
    def retriever_constructor(self) -> type[HandbookRetriever]:
        return HandbookRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"assistant": self.bound, "k": 4}

    @property
    def retriever_query_example(self) -> str:
        return "How can a cluster organisation find international partners?"


def test_documents_carry_step_metadata_and_filters_hold(assistant) -> None:  # type: ignore[no-untyped-def]
    retriever = HandbookRetriever(assistant=assistant, k=5, filters=Filters.of(parts=["step-8"]))
    docs = retriever.invoke("What if the project is unsuccessful?")
    assert docs and all(d.metadata["part"] == "step-8" for d in docs)
    assert all(d.metadata["step"] == 8 and d.id == d.metadata["chunk_id"] for d in docs)


def test_composes_with_lcel(assistant) -> None:  # type: ignore[no-untyped-def]
    chain = HandbookRetriever(assistant=assistant, k=3) | RunnableLambda(
        lambda docs: [d.metadata["part"] for d in docs]
    )
    parts = chain.invoke("the Medicon Valley ambassador programme")
    assert parts[0] == "step-7"

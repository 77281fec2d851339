"""The handbook's hybrid, step-aware retrieval as a LangChain ``BaseRetriever`` (composes with LCEL)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.retrieve import Filters


class HandbookRetriever(BaseRetriever):
    """Documents for a query, ranked by the assistant's hybrid retrieval; metadata locates each one."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    assistant: Any
    k: int = 10
    filters: Filters | None = None

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filters: Filters | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        ranked = self.assistant.retrieve(query, k or self.k, filters or self.filters)
        return [
            Document(
                id=s.chunk.chunk_id,
                page_content=s.chunk.text,
                metadata={**s.chunk.metadata(), "chunk_id": s.chunk.chunk_id, "score": s.score},
            )
            for s in ranked[: k or self.k]
        ]

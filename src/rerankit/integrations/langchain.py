"""LangChain: a rerankit reranker as a document compressor.

    from langchain_classic.retrievers import ContextualCompressionRetriever
    from rerankit.integrations.langchain import RerankitRerank

    retriever = ContextualCompressionRetriever(
        base_compressor=RerankitRerank(model="minilm-int8", top_n=5), base_retriever=base)

Returned documents are copies of the retrieved ones (same ``id`` and ``page_content``)
with the calibrated score in ``metadata["relevance_score"]`` (and the raw model score in
``metadata["raw_relevance_score"]``), best first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from rerankit._optional import require
from rerankit.integrations._common import as_reranker, check_thresholds

require("langchain_core", feature="The LangChain integration")

from langchain_core.callbacks import Callbacks  # noqa: E402
from langchain_core.documents import BaseDocumentCompressor, Document  # noqa: E402
from pydantic import ConfigDict, model_validator  # noqa: E402


class RerankitRerank(BaseDocumentCompressor):
    """Reorders (and cuts) retrieved documents with a rerankit :class:`~rerankit.Reranker`.

    Args:
        reranker: a loaded Reranker (local, ONNX or hosted); or
        model: a model to load (hub id, folder, alias, ``cohere:...``); default the
            offline MiniLM.
        top_n: documents kept (None: all), after ``min_score``.
        min_score: drop documents whose calibrated score is below it.
        score_key: the metadata key of the score.
    """

    reranker: Any = None
    model: str | None = None
    top_n: int | None = 3
    min_score: float | None = None
    score_key: str = "relevance_score"

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    @model_validator(mode="after")
    def _load(self) -> RerankitRerank:
        check_thresholds(self.top_n, self.min_score)
        self.reranker = as_reranker(self.reranker, self.model)
        return self

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        """The documents best first, each a copy carrying its score in ``metadata``."""
        documents = list(documents)
        if not documents:
            return []
        results = self.reranker.rerank(
            query, [doc.page_content for doc in documents], top_n=self.top_n,
            min_score=self.min_score)
        out = []
        for result in results:
            doc = documents[result.index]
            metadata = {**doc.metadata, self.score_key: result.score,
                        f"raw_{self.score_key}": result.raw_score}
            out.append(Document(page_content=doc.page_content, metadata=metadata, id=doc.id))
        return out

    async def acompress_documents(self, documents: Sequence[Document], query: str,
                                  callbacks: Callbacks | None = None) -> Sequence[Document]:
        """As :meth:`compress_documents`, on a worker thread: the event loop keeps running."""
        return await asyncio.to_thread(self.compress_documents, documents, query, callbacks)

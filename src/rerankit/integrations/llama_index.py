"""LlamaIndex: a rerankit reranker as a node postprocessor.

    from rerankit.integrations.llama_index import RerankitRerank

    engine = index.as_query_engine(similarity_top_k=20,
                                   node_postprocessors=[RerankitRerank(model="minilm-int8")])

Nodes come back best first as new ``NodeWithScore`` objects around the same nodes, with
``score`` set to the calibrated relevance (the retriever's score is replaced).
"""

from __future__ import annotations

import asyncio
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit._optional import require
from rerankit.integrations._common import as_reranker, check_thresholds

require("llama_index.core", feature="The LlamaIndex integration")

from llama_index.core.postprocessor.types import BaseNodePostprocessor  # noqa: E402
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle  # noqa: E402
from pydantic import ConfigDict, model_validator  # noqa: E402


class RerankitRerank(BaseNodePostprocessor):
    """Reorders (and cuts) retrieved nodes with a rerankit :class:`~rerankit.Reranker`.

    Args:
        reranker: a loaded Reranker (local, ONNX or hosted); or
        model: a model to load; default the offline MiniLM.
        top_n: nodes kept (None: all), after ``min_score``.
        min_score: drop nodes whose calibrated score is below it.
        metadata_mode: which node metadata the reranker reads with the text (LlamaIndex's
            ``MetadataMode``; default ``NONE``: the text only).
    """

    reranker: Any = None
    model: str | None = None
    top_n: int | None = 3
    min_score: float | None = None
    metadata_mode: MetadataMode = MetadataMode.NONE

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @model_validator(mode="after")
    def _load(self) -> RerankitRerank:
        check_thresholds(self.top_n, self.min_score)
        self.reranker = as_reranker(self.reranker, self.model)
        return self

    @classmethod
    def class_name(cls) -> str:
        return "RerankitRerank"

    def _postprocess_nodes(self, nodes: list[NodeWithScore],
                           query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
        if query_bundle is None:
            raise InvalidInputError("RerankitRerank needs the query (a QueryBundle)")
        if not nodes:
            return []
        texts = [n.node.get_content(metadata_mode=self.metadata_mode) for n in nodes]
        results = self.reranker.rerank(query_bundle.query_str, texts, top_n=self.top_n,
                                       min_score=self.min_score)
        return [NodeWithScore(node=nodes[r.index].node, score=r.score) for r in results]

    async def _apostprocess_nodes(self, nodes: list[NodeWithScore],
                                  query_bundle: QueryBundle | None = None
                                  ) -> list[NodeWithScore]:
        """On a worker thread: the event loop keeps running while the model scores."""
        return await asyncio.to_thread(self._postprocess_nodes, nodes, query_bundle)

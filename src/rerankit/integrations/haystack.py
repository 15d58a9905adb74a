"""Haystack 2: a rerankit reranker as a ranker component.

    from rerankit.integrations.haystack import RerankitRanker

    pipeline.add_component("ranker", RerankitRanker(model="minilm-int8", top_k=5))
    pipeline.connect("retriever.documents", "ranker.documents")

``run(query, documents, top_k=None, score_threshold=None)`` returns
``{"documents": [...]}``: copies of the documents, best first, with ``score`` set to the
calibrated relevance.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rerankit._optional import require
from rerankit.integrations._common import as_reranker, check_thresholds

require("haystack", feature="The Haystack integration")

from haystack import Document, component, default_from_dict, default_to_dict  # noqa: E402


@component
class RerankitRanker:
    """Ranks documents by relevance to the query with a rerankit Reranker.

    Args:
        model: the model to load (hub id, folder, alias, ``cohere:...``); default the
            offline MiniLM. Loaded by ``warm_up`` (or the first ``run``).
        top_k: documents returned (None: all), after ``score_threshold``.
        score_threshold: drop documents whose calibrated score is below it.
        meta_fields_to_embed: metadata fields read with the content (``key: value`` lines
            before it).
        reranker: an already loaded Reranker (then ``model`` must be None).
    """

    def __init__(self, model: str | None = None, top_k: int | None = 10,
                 score_threshold: float | None = None,
                 meta_fields_to_embed: list[str] | None = None, reranker: Any = None) -> None:
        check_thresholds(top_k, score_threshold)
        self.model, self.top_k, self.score_threshold = model, top_k, score_threshold
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self._reranker = reranker
        if reranker is not None:
            as_reranker(reranker, model)

    def warm_up(self) -> None:
        """Load the model (Haystack calls this before the first run)."""
        if self._reranker is None:
            self._reranker = as_reranker(None, self.model)

    def to_dict(self) -> dict[str, Any]:
        """The settings; a ``reranker=`` object is saved as its model name (its other
        options, e.g. ``threads``, are not)."""
        model = self.model if self.model is not None \
            else getattr(self._reranker, "model_name", None)
        return default_to_dict(self, model=model, top_k=self.top_k,
                               score_threshold=self.score_threshold,
                               meta_fields_to_embed=self.meta_fields_to_embed)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RerankitRanker:
        return default_from_dict(cls, data)

    def _text(self, document: Document) -> str:
        lines = [f"{key}: {document.meta[key]}" for key in self.meta_fields_to_embed
                 if document.meta.get(key) is not None]
        return "\n".join([*lines, document.content or ""])

    @component.output_types(documents=list[Document])
    def run(self, query: str, documents: list[Document], top_k: int | None = None,
            score_threshold: float | None = None) -> dict[str, list[Document]]:
        """The documents best first, each a copy with ``score`` set."""
        top_k, score_threshold = check_thresholds(
            self.top_k if top_k is None else top_k,
            self.score_threshold if score_threshold is None else score_threshold)
        if not documents:
            return {"documents": []}
        self.warm_up()
        results = self._reranker.rerank(query, [self._text(d) for d in documents],
                                        top_n=top_k, min_score=score_threshold)
        return {"documents": [dataclasses.replace(documents[r.index], score=r.score)
                              for r in results]}

"""Hybrid retrieval: BM25 and dense candidates fused by RRF or a weighted score sum."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerankit._exceptions import IndexMismatchError, InvalidInputError
from rerankit._inputs import validate_query
from rerankit.retrieval._store import (
    DocumentStore,
    check_settings,
    prepare_folder,
    read_manifest,
    validate_k,
    validate_queries,
    write_manifest,
)
from rerankit.retrieval._types import ComponentScore, Hit
from rerankit.retrieval.bm25 import BM25Index
from rerankit.retrieval.dense import DenseIndex
from rerankit.retrieval.fusion import (
    NORMALIZATIONS,
    reciprocal_rank_fusion,
    weighted_score_fusion,
)

FUSIONS = ("rrf", "weighted")
#: The published Korean winner: 0.7 BM25 (Kiwi tokens) / 0.3 dense.
DEFAULT_WEIGHTS = {"bm25": 0.7, "dense": 0.3}


class HybridIndex:
    """BM25 and dense retrieval over the same documents, fused.

    Args:
        bm25, dense: the two indexes (same documents, same order).
        fusion: ``"rrf"`` (reciprocal rank fusion, weighted) or ``"weighted"`` (weighted
            sum of normalised scores).
        weights: per retriever, default 0.7 BM25 / 0.3 dense.
        rrf_k: the RRF constant (default 60).
        normalization: ``"minmax"`` or ``"zscore"`` for weighted fusion.
        candidates: how many hits each retriever contributes before fusion (at least
            the ``k`` asked for).

    Each hit's ``components`` give its rank and score in each retriever that found it.
    """

    kind = "hybrid"

    def __init__(self, bm25: BM25Index, dense: DenseIndex, *, fusion: str = "rrf",
                 weights: Mapping[str, float] | None = None, rrf_k: float = 60,
                 normalization: str = "minmax", candidates: int = 100) -> None:
        if fusion not in FUSIONS:
            raise InvalidInputError(f"unknown fusion {fusion!r}; choose one of: "
                                    f"{', '.join(FUSIONS)}")
        if normalization not in NORMALIZATIONS:
            raise InvalidInputError(f"unknown normalization {normalization!r}; choose one of: "
                                    f"{', '.join(NORMALIZATIONS)}")
        if isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float)) \
                or not math.isfinite(rrf_k) or rrf_k < 0:
            raise InvalidInputError(f"rrf_k must be a number >= 0, got {rrf_k!r}")
        if [d.id for d in bm25.store.documents] != [d.id for d in dense.store.documents]:
            raise InvalidInputError("the BM25 and dense indexes must hold the same documents "
                                    "in the same order")
        self.bm25, self.dense = bm25, dense
        self.fusion, self.rrf_k, self.normalization = fusion, float(rrf_k), normalization
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        self.candidates = validate_k(candidates)
        # check the weights now rather than at the first search
        reciprocal_rank_fusion({"bm25": [], "dense": []}, weights=self.weights)

    @property
    def store(self) -> DocumentStore:
        """The documents (shared by both indexes)."""
        return self.bm25.store

    @classmethod
    def build(cls, documents: Iterable[Any], *, tokenizer: Any = "auto",
              model: str = "default", bm25_options: Mapping[str, Any] | None = None,
              dense_options: Mapping[str, Any] | None = None, **kwargs: Any) -> HybridIndex:
        """Build both indexes from ``documents`` (read once) and fuse them."""
        documents = list(documents)
        bm25 = BM25Index.build(documents, tokenizer=tokenizer, **(bm25_options or {}))
        dense = DenseIndex.build(documents, model=model, **(dense_options or {}))
        return cls(bm25, dense, **kwargs)

    def __len__(self) -> int:
        return len(self.store)

    def settings(self) -> dict[str, Any]:
        """Fusion settings and both indexes' settings."""
        return {"fusion": self.fusion, "weights": self.weights, "rrf_k": self.rrf_k,
                "normalization": self.normalization, "candidates": self.candidates,
                "bm25": self.bm25.settings(), "dense": self.dense.settings()}

    def add(self, documents: Iterable[Any]) -> None:
        """Add documents to both indexes."""
        documents = list(documents)
        self.bm25.store.prepare(documents)  # refuse bad batches before touching either index
        self.dense.add(documents)
        self.bm25.add(documents)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The ``k`` best documents after fusion.

        A query with no BM25 tokens (only punctuation or stop words) is answered by the
        dense side alone.
        """
        k = validate_k(k)
        query = validate_query(query)
        depth = max(k, self.candidates)
        # each side reads the query once: BM25 tokens and scores, one query embedding
        bm25_scores = self.bm25.token_scores(self.bm25.query_tokens(query))
        vector = self.dense.encode_queries([query])
        lists = {"bm25": self.bm25.hits_from_scores(bm25_scores, depth),
                 "dense": self.dense.search_vectors(vector, depth)[0]}
        if self.fusion == "rrf":
            fused = reciprocal_rank_fusion(
                {name: [h.id for h in hits] for name, hits in lists.items()},
                k=self.rrf_k, weights=self.weights)
        else:
            full = {"bm25": bm25_scores, "dense": self.dense.vector_scores(vector[0])}
            fused = self._weighted(lists, full)
        components: dict[str, dict[str, ComponentScore]] = {}
        for name, hits in lists.items():
            for hit in hits:
                components.setdefault(hit.id, {})[name] = ComponentScore(hit.rank, hit.score)
        chosen = fused[:k]
        return self.store.hits([self.store.position(i) for i, _ in chosen],
                               [s for _, s in chosen],
                               [components[i] for i, _ in chosen])

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """``search`` for each query, in order."""
        return [self.search(q, k) for q in validate_queries(queries)]

    def _weighted(self, lists: Mapping[str, list[Hit]], full: Mapping[str, np.ndarray]
                  ) -> list[tuple[str, float]]:
        """Weighted fusion over the union of candidates, each scored by both retrievers
        (``full``: each retriever's score of every document)."""
        union = list(dict.fromkeys(h.id for hits in lists.values() for h in hits))
        positions = [self.store.position(i) for i in union]
        scores = {name: dict(zip(union, values[positions].tolist(), strict=True))
                  for name, values in full.items()}
        return weighted_score_fusion(scores, weights=self.weights,
                                     normalization=self.normalization)

    def save(self, folder: str | Path) -> None:
        """Save both indexes (``bm25/`` and ``dense/``) and the fusion settings."""
        folder = prepare_folder(folder, self.kind)
        self.bm25.save(folder / "bm25")
        self.dense.save(folder / "dense")
        settings = {key: value for key, value in self.settings().items()
                    if key not in ("bm25", "dense")}
        write_manifest(folder, self.kind, settings, len(self.store))

    @classmethod
    def load(cls, folder: str | Path, *, bm25: Mapping[str, Any] | None = None,
             dense: Mapping[str, Any] | None = None, **expected: Any) -> HybridIndex:
        """Load a saved hybrid; ``bm25``/``dense`` hold settings each side must match,
        other keyword arguments fusion settings that must match."""
        folder = Path(folder)
        settings = read_manifest(folder, cls.kind)["settings"]
        check_settings(folder, settings, expected)
        bm25_index = BM25Index.load(folder / "bm25", **dict(bm25 or {}))
        dense_index = DenseIndex.load(folder / "dense", **dict(dense or {}))
        if len(bm25_index) != len(dense_index):
            raise IndexMismatchError(f"{str(folder)!r}: the BM25 and dense parts hold "
                                     "different documents")
        return cls(bm25_index, dense_index, **{k: v for k, v in settings.items()
                                               if k in ("fusion", "weights", "rrf_k",
                                                        "normalization", "candidates")})



"""The first stage: BM25 (with Korean morphological tokens), dense and hybrid retrieval.

>>> from rerankit.retrieval import BM25Index
>>> index = BM25Index.build([("d1", "BM25 is a ranking function"), ("d2", "Paris")])
>>> [hit.id for hit in index.search("ranking function")]
['d1']

Heavy dependencies (bm25s, kiwipiepy, sentence-transformers) load on first use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from rerankit._exceptions import IndexMismatchError
from rerankit.retrieval._corpus import read_corpus
from rerankit.retrieval._store import read_manifest
from rerankit.retrieval._types import ComponentScore, CorpusDocument, Hit
from rerankit.retrieval.base import Retriever
from rerankit.retrieval.fusion import normalize, reciprocal_rank_fusion, weighted_score_fusion

_LAZY = {
    "BM25Index": "rerankit.retrieval.bm25",
    "DenseIndex": "rerankit.retrieval.dense",
    "HybridIndex": "rerankit.retrieval.hybrid",
    "make_tokenizer": "rerankit.retrieval.tokenize",
    "detect_script": "rerankit.retrieval.tokenize",
    "choose_dense_model": "rerankit.retrieval.encoders",
    "Tokenizer": "rerankit.retrieval.tokenize",
}
_KINDS = {"bm25": "BM25Index", "dense": "DenseIndex", "hybrid": "HybridIndex"}

__all__ = [
    "BM25Index",
    "ComponentScore",
    "CorpusDocument",
    "DenseIndex",
    "Hit",
    "HybridIndex",
    "Retriever",
    "Tokenizer",
    "choose_dense_model",
    "detect_script",
    "load_index",
    "make_tokenizer",
    "normalize",
    "read_corpus",
    "reciprocal_rank_fusion",
    "weighted_score_fusion",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rerankit.retrieval' has no attribute {name!r}")


def load_index(folder: str | Path, **expected: Any) -> Retriever:
    """Load any saved index (its kind is read from the manifest).

    Settings passed as keyword arguments must equal the stored ones, else
    IndexMismatchError.
    """
    kind = read_manifest(folder)["kind"]
    if kind not in _KINDS:
        raise IndexMismatchError(f"{str(folder)!r} holds an unknown index kind {kind!r}")
    return __getattr__(_KINDS[kind]).load(folder, **expected)

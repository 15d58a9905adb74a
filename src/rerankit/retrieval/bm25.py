"""BM25 retrieval on ``bm25s`` with a pluggable tokenizer (regex, Kiwi for Korean, ...)."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerankit._exceptions import InvalidInputError
from rerankit._inputs import validate_query
from rerankit._optional import require
from rerankit.retrieval._store import (
    DocumentStore,
    check_settings,
    prepare_folder,
    read_manifest,
    validate_k,
    validate_queries,
    write_manifest,
)
from rerankit.retrieval._topk import top_k
from rerankit.retrieval._types import Hit
from rerankit.retrieval.tokenize import Tokenizer, make_tokenizer

logger = logging.getLogger("rerankit")

#: BM25 variants bm25s implements.
BM25_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")


class BM25Index:
    """A BM25 index over a document store.

    Args:
        tokenizer: a tokenizer name (``auto``, ``regex``, ``english``, ``kiwi``,
            ``whitespace``), a settings dict, or a Tokenizer. ``auto`` is resolved from
            the first documents added (Korean text -> Kiwi).
        k1, b: BM25 term-frequency saturation and length normalisation.
        method: BM25 variant (see :data:`BM25_METHODS`); ``delta`` is used by bm25l/bm25+.
        tokenizer_options: passed to :func:`make_tokenizer` with a tokenizer name.

    Only documents sharing at least one token with the query are returned (a BM25
    score of 0 means no match). The index is rebuilt from stored tokens on ``add``,
    because BM25 statistics (IDF, average length) depend on the whole corpus.
    """

    kind = "bm25"

    def __init__(self, tokenizer: str | Mapping[str, Any] | Tokenizer = "auto", *,
                 k1: float = 1.5, b: float = 0.75, method: str = "lucene",
                 delta: float = 0.5, **tokenizer_options: Any) -> None:
        if method not in BM25_METHODS:
            raise InvalidInputError(
                f"unknown BM25 method {method!r}; choose one of: {', '.join(BM25_METHODS)}"
            )
        for name, value in (("k1", k1), ("b", b), ("delta", delta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InvalidInputError(f"{name} must be a non-negative number, got {value!r}")
        if not 0 <= b <= 1:
            raise InvalidInputError(f"b must be in [0, 1], got {b}")
        self.store = DocumentStore()
        self.k1, self.b, self.method, self.delta = float(k1), float(b), method, float(delta)
        self._tokenizer_spec = tokenizer
        self._tokenizer_options = tokenizer_options
        self.tokenizer: Tokenizer | None = None
        if not (isinstance(tokenizer, str) and tokenizer == "auto"):
            self.tokenizer = make_tokenizer(tokenizer, **tokenizer_options)
        self._tokens: list[list[str]] = []
        self._engine: Any = None

    @classmethod
    def build(cls, documents: Iterable[Any], **kwargs: Any) -> BM25Index:
        """A new index holding ``documents``."""
        index = cls(**kwargs)
        index.add(documents)
        return index

    def __len__(self) -> int:
        return len(self.store)

    def settings(self) -> dict[str, Any]:
        """Everything needed to tokenise and score exactly as this index does."""
        tokenizer = self.tokenizer.settings() if self.tokenizer else {"name": "auto"}
        return {"tokenizer": tokenizer, "k1": self.k1, "b": self.b, "method": self.method,
                "delta": self.delta}

    def add(self, documents: Iterable[Any]) -> None:
        """Tokenise and add documents (ids must be new), then rebuild the BM25 statistics."""
        new = self.store.prepare(documents)
        if self.tokenizer is None:
            self.tokenizer = make_tokenizer(
                "auto", sample=[d.full_text for d in new[:1000]], **self._tokenizer_options
            )
        tokens = self.tokenizer.tokenize_many([d.full_text for d in new])
        empty = [doc.id for doc, toks in zip(new, tokens, strict=True) if not toks]
        if empty:
            shown = ", ".join(map(repr, empty[:5])) + (" ..." if len(empty) > 5 else "")
            logger.warning(
                "%d document(s) have no tokens with the %s tokenizer and cannot be found by "
                "BM25: %s", len(empty), self.tokenizer.name, shown,
            )
        self.store.extend(new)
        self._tokens.extend(tokens)
        self._rebuild()

    def _rebuild(self) -> None:
        bm25s = _import_bm25s()
        engine = bm25s.BM25(k1=self.k1, b=self.b, delta=self.delta, method=self.method)
        engine.index(self._tokens, show_progress=False)
        self._engine = engine

    def query_tokens(self, query: str) -> list[str]:
        """The query's tokens, as the index sees them."""
        assert self.tokenizer is not None
        return self.tokenizer(validate_query(query))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document, in store order (zeros when nothing matches)."""
        return self.token_scores(self.query_tokens(query))

    def token_scores(self, tokens: list[str]) -> np.ndarray:
        """:meth:`scores` for query tokens from :meth:`query_tokens`."""
        if not tokens:
            return np.zeros(len(self.store), dtype=np.float32)
        return np.asarray(self._engine.get_scores(tokens), dtype=np.float32)

    def hits_from_scores(self, scores: np.ndarray, k: int) -> list[Hit]:
        """The ``k`` best documents with a positive score in ``scores``."""
        positions, values = top_k(scores, k, positive_only=True)
        return self.store.hits(positions.tolist(), values.tolist())

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The ``k`` best-scoring documents that share a token with the query.

        Raises InvalidInputError when the query has no tokens (only punctuation, or only
        stop words) since BM25 can match nothing.
        """
        k = validate_k(k)
        tokens = self.query_tokens(query)
        if not tokens:
            raise InvalidInputError(
                f"the query {query!r} has no searchable tokens with the {self.tokenizer.name} "
                "tokenizer (only punctuation or stop words?)"
            )
        return self.hits_from_scores(self.token_scores(tokens), k)

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """``search`` for each query, in order."""
        return [self.search(q, k) for q in validate_queries(queries)]

    def save(self, folder: str | Path) -> None:
        """Save to ``folder``: manifest, documents, tokens and the bm25s index."""
        folder = prepare_folder(folder, self.kind)
        self.store.save(folder)
        vocab: dict[str, int] = {}
        ids = [vocab.setdefault(tok, len(vocab)) for toks in self._tokens for tok in toks]
        lengths = np.fromiter((len(t) for t in self._tokens), dtype=np.int64,
                              count=len(self._tokens))
        np.save(folder / "token_ids.npy", np.asarray(ids, dtype=np.int32))
        np.save(folder / "token_counts.npy", lengths)
        (folder / "vocab.json").write_text(json.dumps(list(vocab), ensure_ascii=False),
                                           encoding="utf-8")
        self._engine.save(str(folder / "bm25s"), show_progress=False)
        write_manifest(folder, self.kind, self.settings(), len(self.store))

    @classmethod
    def load(cls, folder: str | Path, **expected: Any) -> BM25Index:
        """Load a saved index; any setting passed (``tokenizer``, ``k1``, ``b``, ``method``,
        ``delta``) must equal the stored one, else IndexMismatchError."""
        folder = Path(folder)
        settings = read_manifest(folder, cls.kind)["settings"]
        if expected.get("tokenizer") == "auto":
            del expected["tokenizer"]  # resolved when the index was built
        if "tokenizer" in expected:
            expected["tokenizer"] = make_tokenizer(expected["tokenizer"]).settings()
        check_settings(folder, settings, expected)
        index = cls(settings["tokenizer"], k1=settings["k1"], b=settings["b"],
                    method=settings["method"], delta=settings["delta"])
        index.store = DocumentStore.load(folder)
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        ids = np.load(folder / "token_ids.npy")
        bounds = np.concatenate([[0], np.cumsum(np.load(folder / "token_counts.npy"))])
        index._tokens = [[vocab[i] for i in ids[start:end].tolist()]
                         for start, end in itertools.pairwise(bounds.tolist())]
        bm25s = _import_bm25s()
        index._engine = bm25s.BM25.load(str(folder / "bm25s"), show_progress=False)
        return index



def _import_bm25s() -> Any:
    """Import bm25s, undoing its import-time ``logger.setLevel(DEBUG)`` (which would
    print a debug line per index build in any application that configures logging)."""
    bm25s = require("bm25s", feature="BM25 retrieval")
    engine_logger = logging.getLogger("bm25s")
    if engine_logger.level == logging.DEBUG:
        engine_logger.setLevel(logging.NOTSET)
    return bm25s

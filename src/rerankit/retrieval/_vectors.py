"""Vector search engines of the dense index: exact (numpy) and approximate (usearch HNSW).

Both hold L2-normalised float32 vectors keyed by insertion position and answer
``search(queries, k)`` with, per query, positions and cosine similarities, best first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rerankit._exceptions import IndexMismatchError
from rerankit._optional import require
from rerankit.retrieval._topk import top_k

#: Query-by-document score blocks stay under this many floats (64 MiB of float32).
_BLOCK = 16 * 1024 * 1024

Results = list[tuple[np.ndarray, np.ndarray]]


class VectorSearch(Protocol):
    """What the dense index needs from a search engine."""

    name: str

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> Results: ...

    def save(self, path: Path) -> None: ...

    def __len__(self) -> int: ...


class ExactVectors:
    """Every vector in one float32 matrix; exact top-k by dot product (cosine for unit vectors).

    The matrix grows by doubling, so many small ``add`` calls stay linear overall.
    """

    name = "exact"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._data = np.empty((0, dim), dtype=np.float32)
        self._size = 0

    @property
    def matrix(self) -> np.ndarray:
        """The stored vectors in insertion order (a view; do not modify)."""
        return self._data[: self._size]

    def add(self, vectors: np.ndarray) -> None:
        vectors = _as_matrix(vectors, self.dim)
        needed = self._size + len(vectors)
        if needed > len(self._data):
            grown = np.empty((max(needed, 2 * len(self._data)), self.dim), dtype=np.float32)
            grown[: self._size] = self.matrix
            self._data = grown
        self._data[self._size : needed] = vectors
        self._size = needed

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """Dot product of each query with every stored vector: shape (queries, vectors)."""
        return _as_matrix(queries, self.dim) @ self.matrix.T

    def search(self, queries: np.ndarray, k: int) -> Results:
        queries = _as_matrix(queries, self.dim)
        step = max(1, _BLOCK // max(1, self._size))
        results: Results = []
        for start in range(0, len(queries), step):
            for row in self.scores(queries[start : start + step]):
                results.append(top_k(row, k))
        return results

    def save(self, path: Path) -> None:
        np.save(path, self.matrix, allow_pickle=False)

    @classmethod
    def load(cls, path: Path, dim: int | None = None) -> ExactVectors:
        try:
            matrix = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexMismatchError(f"cannot read the embeddings {str(path)!r}: {exc}") from exc
        if matrix.ndim != 2 or (dim is not None and matrix.shape[1] != dim):
            raise IndexMismatchError(
                f"{str(path)!r} holds embeddings of shape {matrix.shape}, expected (n, {dim})"
            )
        vectors = cls(matrix.shape[1])
        vectors.add(matrix)
        return vectors

    def __len__(self) -> int:
        return self._size


class UsearchVectors:
    """A usearch HNSW graph (cosine metric, float32); scores are ``1 - distance`` (cosine).

    Results are approximate: a true top-k document may be missed, and fewer than ``k``
    hits may come back for ``k`` close to the corpus size.
    """

    name = "usearch"
    FILE = "vectors.usearch"

    def __init__(self, dim: int, *, index: Any = None) -> None:
        usearch = require("usearch.index", feature="Approximate dense search (ann='usearch')")
        self.dim = dim
        self._index = index if index is not None else usearch.Index(
            ndim=dim, metric="cos", dtype="f32"
        )

    def add(self, vectors: np.ndarray) -> None:
        vectors = _as_matrix(vectors, self.dim)
        start = len(self)
        keys = np.arange(start, start + len(vectors), dtype=np.uint64)
        self._index.add(keys, vectors)

    def search(self, queries: np.ndarray, k: int) -> Results:
        queries = _as_matrix(queries, self.dim)
        if len(queries) == 0 or len(self) == 0:
            return [(np.empty(0, np.int64), np.empty(0, np.float32)) for _ in queries]
        matches = self._index.search(queries, count=min(k, len(self)))
        if len(queries) == 1:  # one vector: usearch answers with Matches, already trimmed
            rows = [(matches.keys, matches.distances)]
        else:
            rows = [(matches.keys[i, :count], matches.distances[i, :count])
                    for i, count in enumerate(matches.counts.tolist())]
        return [(keys.astype(np.int64), (1.0 - distances).astype(np.float32))
                for keys, distances in rows]

    def save(self, path: Path) -> None:
        self._index.save(str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> UsearchVectors:
        usearch = require("usearch.index", feature="Approximate dense search (ann='usearch')")
        try:
            index = usearch.Index.restore(str(path))
        except (OSError, RuntimeError, ValueError) as exc:
            raise IndexMismatchError(f"cannot read the ANN index {str(path)!r}: {exc}") from exc
        if index is None or index.ndim != dim:
            raise IndexMismatchError(f"{str(path)!r} is not a usearch index of {dim} dimensions")
        return cls(dim, index=index)

    def __len__(self) -> int:
        return int(self._index.size)


def _as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"expected vectors of {dim} dimensions, got shape {matrix.shape}")
    return matrix

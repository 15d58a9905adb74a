"""The interface every first-stage retriever (BM25, dense, hybrid) implements."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rerankit.retrieval._store import DocumentStore
from rerankit.retrieval._types import Hit


@runtime_checkable
class Retriever(Protocol):
    """A searchable index of documents.

    ``kind`` is ``"bm25"``, ``"dense"`` or ``"hybrid"`` (also the manifest kind);
    ``store`` holds the documents; ``search`` returns at most ``k`` hits, best first,
    with 1-based ranks.
    """

    kind: str
    store: DocumentStore

    def search(self, query: str, k: int = 10) -> list[Hit]: ...

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]: ...

    def add(self, documents: Iterable[Any]) -> None: ...

    def save(self, folder: str | Path) -> None: ...

    def settings(self) -> dict[str, Any]: ...

    def __len__(self) -> int: ...

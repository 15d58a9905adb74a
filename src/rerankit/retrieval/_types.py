"""Value types of the first stage: a corpus document and a retrieved hit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CorpusDocument:
    """One document of an index: a stable string id, its text and optional metadata.

    ``title`` is kept apart from ``text`` (BEIR style); :attr:`full_text` is what
    retrievers index and rerankers read.
    """

    id: str
    text: str
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def full_text(self) -> str:
        """Title and text joined by a blank line (just the text when there is no title)."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (BEIR field names)."""
        item: dict[str, Any] = {"_id": self.id, "title": self.title, "text": self.text}
        if self.metadata:
            item["metadata"] = dict(self.metadata)
        return item


@dataclass(frozen=True)
class ComponentScore:
    """Rank (1-based) and score of a document in one retriever of a hybrid."""

    rank: int
    score: float


@dataclass(frozen=True)
class Hit:
    """One retrieved document.

    Attributes:
        id: the document's id in the index.
        score: the retriever's score (BM25, cosine, or fused); higher is better.
        rank: 1-based position in the result list.
        document: the indexed document (text, title, metadata).
        components: for a hybrid, each retriever's rank and score of this document
            (a retriever that did not return it is absent); empty otherwise.
    """

    id: str
    score: float
    rank: int
    document: CorpusDocument
    components: Mapping[str, ComponentScore] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The document's full text (title and text)."""
        return self.document.full_text

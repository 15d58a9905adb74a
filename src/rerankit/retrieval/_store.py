"""What every index shares: its documents by id, result hits, and the saved-folder manifest."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rerankit._exceptions import IndexMismatchError, InvalidInputError
from rerankit._inputs import validate_query
from rerankit.retrieval._corpus import read_corpus, to_documents, write_corpus
from rerankit.retrieval._types import ComponentScore, CorpusDocument, Hit

logger = logging.getLogger("rerankit")

MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
FORMAT_VERSION = 1


class DocumentStore:
    """The documents of an index in insertion order, with O(1) lookup by id."""

    def __init__(self) -> None:
        self.documents: list[CorpusDocument] = []
        self._position: dict[str, int] = {}

    def add(self, items: Iterable[Any]) -> list[CorpusDocument]:
        """Check and append documents; duplicate ids (also against stored ones) are refused."""
        new = self.prepare(items)
        self.extend(new)
        return new

    def prepare(self, items: Iterable[Any]) -> list[CorpusDocument]:
        """Check documents for adding (ids new and unique) without adding them yet."""
        return to_documents(items, existing_ids=self._position.keys())

    def extend(self, documents: list[CorpusDocument]) -> None:
        """Append documents returned by :meth:`prepare`."""
        for doc in documents:
            self._position[doc.id] = len(self.documents)
            self.documents.append(doc)

    def get(self, doc_id: str) -> CorpusDocument:
        """The document with this id (KeyError naming it otherwise)."""
        try:
            return self.documents[self._position[doc_id]]
        except KeyError:
            raise KeyError(f"no document with id {doc_id!r} in the index") from None

    def position(self, doc_id: str) -> int:
        """Insertion position of a document id."""
        return self._position[doc_id]

    def __len__(self) -> int:
        return len(self.documents)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._position

    def hits(self, positions: Sequence[int], scores: Sequence[float],
             components: Sequence[Mapping[str, ComponentScore]] | None = None) -> list[Hit]:
        """Hits for documents at ``positions`` (already in rank order)."""
        return [
            Hit(id=self.documents[pos].id, score=float(score), rank=rank,
                document=self.documents[pos],
                components=components[rank - 1] if components is not None else {})
            for rank, (pos, score) in enumerate(zip(positions, scores, strict=True), start=1)
        ]

    def save(self, folder: Path) -> None:
        write_corpus(self.documents, folder / DOCUMENTS)

    @classmethod
    def load(cls, folder: Path) -> DocumentStore:
        store = cls()
        store.add(read_corpus(folder / DOCUMENTS))
        return store


def validate_k(k: Any) -> int:
    """Check a result count: a positive int."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a positive int, got {k!r}")
    return k


def validate_queries(queries: Any) -> list[str]:
    """Check a list of queries (each a non-empty str)."""
    if isinstance(queries, (str, bytes)) or not isinstance(queries, Sequence):
        raise InvalidInputError(f"queries must be a list of str, got {type(queries).__name__}")
    return [validate_query(q) for q in queries]


def write_manifest(folder: Path, kind: str, settings: Mapping[str, Any], count: int) -> None:
    """Write ``manifest.json``: what the index is and every setting needed to query it."""
    from rerankit import __version__

    manifest = {"format": "rerankit-index", "format_version": FORMAT_VERSION, "kind": kind,
                "rerankit_version": __version__, "documents": count, "settings": dict(settings)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                   encoding="utf-8")


def read_manifest(folder: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read and check a manifest; ``kind`` (bm25, dense, hybrid) must match when given."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise IndexMismatchError(f"{str(folder)!r} is not a rerankit index (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(f"cannot read {str(path)!r}: {exc}") from exc
    if manifest.get("format") != "rerankit-index":
        raise IndexMismatchError(f"{str(path)!r} is not a rerankit index manifest")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise IndexMismatchError(
            f"{str(folder)!r} was saved by a newer rerankit (format "
            f"{manifest['format_version']}); upgrade rerankit to load it"
        )
    if kind is not None and manifest.get("kind") != kind:
        raise IndexMismatchError(
            f"{str(folder)!r} holds a {manifest.get('kind')!r} index, not a {kind!r} index"
        )
    return manifest


def check_settings(folder: str | Path, stored: Mapping[str, Any],
                   requested: Mapping[str, Any]) -> None:
    """Refuse to load when a requested setting differs from the stored one.

    ``requested`` holds only the settings the caller asked for explicitly.
    """
    diffs = [f"{key}: index has {stored.get(key)!r}, asked for {value!r}"
             for key, value in requested.items() if stored.get(key) != value]
    if diffs:
        raise IndexMismatchError(
            f"the index in {str(folder)!r} was built with other settings ("
            + "; ".join(diffs) + "); rebuild it or load it without overriding them"
        )


def prepare_folder(folder: str | Path, kind: str) -> Path:
    """Create ``folder`` for saving an index of ``kind``.

    Refused: a file, a non-empty folder that is not an index, and an index of another
    kind (its files would be left behind).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"cannot save an index to {str(folder)!r}: it is a file")
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / MANIFEST).is_file():
            raise InvalidInputError(
                f"refusing to save an index into {str(folder)!r}: the folder is not empty "
                "and holds no rerankit index"
            )
        existing = read_manifest(folder).get("kind")
        if existing != kind:
            raise InvalidInputError(
                f"refusing to save a {kind} index over the {existing} index in "
                f"{str(folder)!r}: delete it first or choose another folder"
            )
    folder.mkdir(parents=True, exist_ok=True)
    return folder

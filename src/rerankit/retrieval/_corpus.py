"""Reading and checking the documents an index is built from."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit._inputs import clean_text
from rerankit.retrieval._types import CorpusDocument

_ID_FIELDS = ("_id", "id", "doc_id", "docid")


def to_document(item: Any, position: int) -> CorpusDocument:
    """One caller item as a CorpusDocument.

    Accepted: a CorpusDocument; an ``(id, text)`` pair; a mapping with an id field
    (``_id``, ``id``, ``doc_id`` or ``docid``), a ``text`` and optional ``title`` and
    ``metadata`` (other fields go to metadata).
    """
    if isinstance(item, CorpusDocument):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        doc_id, text = item
        return CorpusDocument(_check_id(doc_id, position), _check_text(text, "text", position))
    if isinstance(item, Mapping):
        key = next((k for k in _ID_FIELDS if k in item), None)
        if key is None:
            raise InvalidInputError(
                f"document {position} has no id field (one of {', '.join(_ID_FIELDS)})"
            )
        if "text" not in item:
            raise InvalidInputError(f"document {item[key]!r} has no 'text' field")
        title = item.get("title") or ""
        metadata = dict(item.get("metadata") or {})
        extra = {k: v for k, v in item.items()
                 if k not in (key, "text", "title", "metadata")}
        metadata.update(extra)
        return CorpusDocument(
            _check_id(item[key], position),
            _check_text(item["text"], "text", position),
            _check_text(title, "title", position),
            metadata,
        )
    raise InvalidInputError(
        f"document {position} must be an (id, text) pair or a mapping with an id and "
        f"'text', got {type(item).__name__}"
    )


def _check_id(doc_id: Any, position: int) -> str:
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise InvalidInputError(
            f"document {position}: id must be a str or int, got {type(doc_id).__name__}"
        )
    doc_id = str(doc_id)
    if not doc_id.strip():
        raise InvalidInputError(f"document {position}: id is empty")
    return doc_id


def _check_text(text: Any, name: str, position: int) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(
            f"document {position}: {name} must be a str, got {type(text).__name__}"
        )
    return clean_text(text)


def to_documents(items: Iterable[Any], existing_ids: Iterable[str] = ()) -> list[CorpusDocument]:
    """Check a batch of documents: at least one, ids unique (also against ``existing_ids``)."""
    if isinstance(items, (str, bytes, Mapping)):
        raise InvalidInputError(
            f"documents must be an iterable of documents, got {type(items).__name__}"
        )
    documents = [to_document(item, i) for i, item in enumerate(items)]
    if not documents:
        raise InvalidInputError("the corpus is empty: give at least one document")
    counts = Counter(doc.id for doc in documents)
    counts.update(set(existing_ids) & counts.keys())
    duplicates = sorted(doc_id for doc_id, n in counts.items() if n > 1)
    if duplicates:
        shown = ", ".join(map(repr, duplicates[:10]))
        more = f" and {len(duplicates) - 10} more" if len(duplicates) > 10 else ""
        raise InvalidInputError(f"duplicate document ids: {shown}{more}")
    return documents


def decode_utf8(data: bytes, label: str) -> str:
    """UTF-8 text (a BOM is dropped); an error names the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{label} line {line} is not valid UTF-8 (byte {exc.start}: "
            f"{data[exc.start:exc.end]!r}); save the file as UTF-8 (Korean spreadsheets "
            "often export CP949)"
        ) from None


def parse_jsonl(data: bytes, label: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of JSONL bytes; ``label`` names the
    source in errors. Lines are split on ``\n`` only (text may hold U+2028)."""
    for number, line in enumerate(decode_utf8(data, label).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"{label} line {number} is not JSON: {exc.msg} (column {exc.colno})"
            ) from None


def read_bytes(path: Path) -> bytes:
    """A file's bytes, or InvalidInputError naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {str(path)!r}: {exc.strerror}") from exc


def read_jsonl_objects(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each line of a JSONL file; a non-object line is an error."""
    path = Path(path)
    for number, item in parse_jsonl(read_bytes(path), path.name):
        if not isinstance(item, dict):
            raise InvalidInputError(
                f"{path.name} line {number}: expected a JSON object, got {type(item).__name__}"
            )
        yield number, item


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Objects of a JSONL file, with the line number in every error."""
    return (item for _, item in read_jsonl_objects(path))


def read_corpus(path: str | Path) -> list[CorpusDocument]:
    """Documents of a BEIR ``corpus.jsonl`` (or any JSONL with an id and ``text``).

    ``path`` may also be a BEIR folder holding ``corpus.jsonl``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "corpus.jsonl"
    return to_documents(read_jsonl(path))


def write_corpus(documents: Iterable[CorpusDocument], path: Path) -> None:
    """Write documents as BEIR-style JSONL."""
    with path.open("w", encoding="utf-8") as handle:
        for doc in documents:
            handle.write(json.dumps(doc.to_json(), ensure_ascii=False) + "\n")

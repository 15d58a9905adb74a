"""Fail fast on hub models that are neither cached nor reachable.

The Hugging Face client retries unreachable downloads with back-off (half a minute or
more, with warnings); rerankit checks once, quickly, and raises ModelNotFoundError.
"""

from __future__ import annotations

import os
from pathlib import Path

from rerankit._exceptions import ModelNotFoundError
from rerankit._optional import require

_TRUE = {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """True when the Hugging Face hub is switched off (``HF_HUB_OFFLINE``)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE:
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def is_cached(repo_id: str, filename: str = "config.json", revision: str | None = None) -> bool:
    """Whether ``filename`` of a hub model is in the local Hugging Face cache."""
    hub = require("huggingface_hub", feature="Loading models from the Hugging Face hub")
    found = hub.try_to_load_from_cache(repo_id, filename, revision=revision)
    return isinstance(found, str)


def ensure_available(repo_id: str, what: str, *, revision: str | None = None,
                     filename: str = "config.json", hint: str = "") -> None:
    """Return if ``repo_id`` is a local folder, cached, or reachable on the hub (one request
    with a 10 s timeout); else raise ModelNotFoundError at once."""
    if Path(repo_id).is_dir() or is_cached(repo_id, filename, revision):
        return
    from rerankit.rerankers._torch import not_found_message

    if hub_offline():
        raise ModelNotFoundError(
            not_found_message(repo_id, what) + " (HF_HUB_OFFLINE is set)" + hint)
    hub = require("huggingface_hub", feature="Loading models from the Hugging Face hub")
    try:
        hub.model_info(repo_id, revision=revision, timeout=10)
    except Exception as exc:  # network, auth, missing repo: all mean "not available"
        raise ModelNotFoundError(not_found_message(repo_id, what, exc) + hint) from exc

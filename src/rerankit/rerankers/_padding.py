"""Padding encoded pairs into rectangular int64 arrays (numpy only: torch and ONNX share it)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rerankit._types import EncodedPair


def pad_arrays(
    batch: Sequence[EncodedPair], *, pad_id: int, left: bool, with_types: bool
) -> dict[str, np.ndarray]:
    """``input_ids``, ``attention_mask`` (and ``token_type_ids``) padded to the longest pair."""
    width = max(len(p) for p in batch)
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    types = np.zeros((len(batch), width), dtype=np.int64) if with_types else None
    for row, pair in enumerate(batch):
        n = len(pair)
        span = slice(width - n, width) if left else slice(0, n)
        ids[row, span] = pair.input_ids
        mask[row, span] = 1
        if types is not None and pair.token_type_ids is not None:
            types[row, span] = pair.token_type_ids
    arrays = {"input_ids": ids, "attention_mask": mask}
    if types is not None:
        arrays["token_type_ids"] = types
    return arrays

"""Fine-tune a cross-encoder reranker on your own (query, positive) data.

    from rerankit.train import MiningConfig, TrainConfig, load_training_data, train

    data = load_training_data("../shared/datasets/msmarco-devsmall-positives")
    result = train(data, "my-reranker", TrainConfig(loss="listwise"),
                   MiningConfig(method="bm25", num_negatives=3))
    Reranker("my-reranker").rerank(query, documents)

Needs torch and transformers (``pip install 'rerankit[train]'``); nothing heavy is
imported until a function is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "rerankit.train.config",
    "MiningConfig": "rerankit.train.mining",
    "MiningReport": "rerankit.train.mining",
    "mine_negatives": "rerankit.train.mining",
    "build_first_stage": "rerankit.train.mining",
    "TrainingData": "rerankit.train.data",
    "TrainingExample": "rerankit.train.data",
    "load_training_data": "rerankit.train.data",
    "load_positives_json": "rerankit.train.data",
    "load_jsonl_training": "rerankit.train.data",
    "load_beir_training": "rerankit.train.data",
    "train": "rerankit.train.trainer",
    "TrainResult": "rerankit.train.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rerankit.train' has no attribute {name!r}")

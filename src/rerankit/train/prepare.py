"""Turn training data into what the loop reads: a dev split, mined negatives, dev lists.

The result is saved as ``OUT/mined.json`` and reused on resume (mining a large pool with a
dense or hybrid first stage costs minutes), keyed by the settings that produced it.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rerankit.train.checkpoint import write_json
from rerankit.train.config import TrainConfig
from rerankit.train.data import TrainingData, TrainingExample
from rerankit.train.mining import (
    MiningConfig,
    build_first_stage,
    mine_negatives,
    random_fill,
    retrieve,
)

MINED_FILE = "mined.json"


@dataclass(frozen=True)
class DevQuery:
    """A held-out query: candidates in first-stage order, its positives among them."""

    query_id: str
    query: str
    candidates: tuple[str, ...]
    positives: tuple[str, ...]


@dataclass
class Prepared:
    train: list[TrainingExample]
    dev: list[DevQuery]
    mining_report: dict[str, Any]


def split_dev(examples: list[TrainingExample], size: int, seed: int
              ) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """(train, dev): ``size`` queries drawn at random (seeded) for dev, file order kept."""
    size = min(size, max(0, len(examples) - 1))
    chosen = set(random.Random(seed).sample(range(len(examples)), size))
    train = [e for i, e in enumerate(examples) if i not in chosen]
    dev = [e for i, e in enumerate(examples) if i in chosen]
    return train, dev


def prepare(data: TrainingData, config: TrainConfig, mining: MiningConfig, folder: Path
            ) -> Prepared:
    """Split, mine and build dev lists, or reload them from ``folder`` when settings match."""
    train, dev = split_dev(data.examples, config.dev_size, config.seed)
    if config.max_train_queries is not None:
        train = train[: config.max_train_queries]
    key = _key(data, config, mining, train, dev)
    cached = _load(folder / MINED_FILE, key)
    if cached is not None:
        return _rebuild(cached, train, dev)
    index = build_first_stage(data.passages, mining)
    mined, report = mine_negatives(data, mining, examples=train, index=index)
    dev_lists = _dev_lists(data, dev, index, config.dev_depth, mining.seed)
    write_json(folder / MINED_FILE, {
        "key": key,
        "train": {e.query_id: list(e.negatives) for e in mined},
        "dev": {d.query_id: list(d.candidates) for d in dev_lists},
        "report": report.to_dict(),
    })
    return Prepared(mined, dev_lists, report.to_dict())


def _dev_lists(data: TrainingData, dev: list[TrainingExample], index: Any, depth: int,
               seed: int) -> list[DevQuery]:
    """First-stage top ``depth`` per dev query, with positives it missed appended last and
    random pool passages when the first stage found too few."""
    rng = random.Random(seed + 1)
    pool = list(data.passages)
    found = retrieve(index, [e.query for e in dev], depth)
    out = []
    for example, ranked in zip(dev, found, strict=True):
        missing = [p for p in example.positives if p not in ranked]
        room = max(0, depth - len(missing))
        candidates = ranked[:room] + missing
        candidates += random_fill(rng, pool, set(candidates), depth - len(candidates))
        out.append(DevQuery(example.query_id, example.query, tuple(candidates),
                            example.positives))
    return out


def _key(data: TrainingData, config: TrainConfig, mining: MiningConfig,
         train: list[TrainingExample], dev: list[TrainingExample]) -> str:
    digest = hashlib.sha256()
    for part in (data.source, len(data.passages), mining.to_dict(), config.dev_depth,
                 [e.query_id for e in train], [e.query_id for e in dev]):
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _load(path: Path, key: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return saved if saved.get("key") == key else None


def _rebuild(saved: dict[str, Any], train: list[TrainingExample], dev: list[TrainingExample]
             ) -> Prepared:
    mined = [TrainingExample(e.query_id, e.query, e.positives, tuple(saved["train"][e.query_id]))
             for e in train]
    dev_lists = [DevQuery(e.query_id, e.query, tuple(saved["dev"][e.query_id]), e.positives)
                 for e in dev]
    return Prepared(mined, dev_lists, saved["report"])

"""Saving the trained model (Hugging Face format) and resumable training checkpoints.

Layout of an output folder::

    OUT/                      the best model: config.json, model.safetensors, tokenizer
                              files, README.md (model card), rerankit_training.json
    OUT/mined.json            the train negatives and dev candidates (reused on resume)
    OUT/train_log.jsonl       one line per optimiser step and per evaluation
    OUT/checkpoints/step-N/   model + optimizer.pt + scheduler.pt + rng.pt + state.json
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rerankit._exceptions import InvalidInputError

TRAINING_FILE = "rerankit_training.json"
CHECKPOINTS = "checkpoints"
STATE_FILE = "state.json"

#: ``config.sentence_transformers`` so that sentence-transformers' CrossEncoder applies a
#: sigmoid to the one logit, as rerankit does.
ST_CONFIG = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No transformers progress bars or warnings inside (restored after)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def prepare_output(folder: Path, *, resume: bool) -> None:
    """Create ``folder``; refuse a non-empty folder that is not a rerankit training run,
    and an existing run unless resuming."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"output {str(folder)!r} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        ours = (folder / CHECKPOINTS).is_dir() or (folder / "mined.json").is_file()
        if not ours:
            raise InvalidInputError(
                f"output folder {str(folder)!r} is not empty and holds no rerankit training "
                "run; choose an empty or new folder"
            )
        if not resume:
            raise InvalidInputError(
                f"output folder {str(folder)!r} already holds a training run; pass "
                "resume=True (--resume) to continue it, or choose a new folder"
            )
    folder.mkdir(parents=True, exist_ok=True)


def save_model(model: Any, tokenizer: Any, folder: Path, *, extra_files: dict[str, str]
               ) -> None:
    """Write model + tokenizer + ``extra_files`` into ``folder``, each file replaced whole."""
    model.config.sentence_transformers = dict(ST_CONFIG)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".saving-") as tmp, quiet_transformers():
        staging = Path(tmp)
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        for name, text in extra_files.items():
            (staging / name).write_text(text, encoding="utf-8")
        for item in staging.iterdir():
            os.replace(item, folder / item.name)


def write_json(path: Path, value: Any) -> None:
    """Write JSON atomically (temp file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def save_checkpoint(torch: Any, folder: Path, step: int, *, model: Any, tokenizer: Any,
                    optimizer: Any, scheduler: Any, state: dict[str, Any], keep: int) -> Path:
    """A complete, resumable checkpoint at ``OUT/checkpoints/step-N`` (written atomically)."""
    root = folder / CHECKPOINTS
    root.mkdir(exist_ok=True)
    target = root / f"step-{step:07d}"
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".step-"))
    try:
        with quiet_transformers():
            model.save_pretrained(staging, safe_serialization=True)
            tokenizer.save_pretrained(staging)
        torch.save(optimizer.state_dict(), staging / "optimizer.pt")
        torch.save(scheduler.state_dict(), staging / "scheduler.pt")
        torch.save({"torch": torch.get_rng_state()}, staging / "rng.pt")
        write_json(staging / STATE_FILE, state)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    for old in list_checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = folder / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def load_state(checkpoint: Path) -> dict[str, Any]:
    """The trainer state saved with a checkpoint."""
    return json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))


def restore_optimisation(torch: Any, checkpoint: Path, optimizer: Any, scheduler: Any) -> None:
    """Load optimizer, scheduler and RNG state saved by :func:`save_checkpoint`."""
    optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
    rng = torch.load(checkpoint / "rng.pt", weights_only=True)
    torch.set_rng_state(rng["torch"])

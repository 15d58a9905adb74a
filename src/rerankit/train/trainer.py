"""The fine-tuning loop: batches of (query, positive, negatives) groups, AdamW, dev
evaluation with :mod:`rerankit.metrics`, early stopping, checkpoints and resume."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit.metrics import evaluate
from rerankit.train.checkpoint import (
    TRAINING_FILE,
    list_checkpoints,
    load_state,
    prepare_output,
    quiet_transformers,
    restore_optimisation,
    save_checkpoint,
    save_model,
    write_json,
)
from rerankit.train.config import TrainConfig
from rerankit.train.data import TrainingData, TrainingExample
from rerankit.train.losses import compute_loss
from rerankit.train.mining import MiningConfig
from rerankit.train.model_card import model_card
from rerankit.train.prepare import prepare

log = logging.getLogger("rerankit.train")

#: Metrics computed on the dev split at every evaluation.
DEV_METRICS = ("ndcg@10", "mrr@10", "recall@5")
LOG_FILE = "train_log.jsonl"


@dataclass
class TrainResult:
    """What a run did. ``output_dir`` holds the best (or, without dev, the last) model."""

    output_dir: Path
    global_step: int
    total_steps: int
    stopped: str
    elapsed_s: float
    losses: list[float] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_step: int | None = None
    dev_baseline: dict[str, float] | None = None
    resumed_from: int | None = None


def train(
    data: TrainingData,
    output_dir: str | Path,
    config: TrainConfig | None = None,
    mining: MiningConfig | None = None,
    *,
    resume: bool = False,
) -> TrainResult:
    """Fine-tune ``config.base_model`` as a one-logit cross-encoder on ``data``.

    Negatives are mined (``mining``) for the training queries; ``config.dev_size`` queries
    are held out and reranked after each epoch (and every ``eval_every`` steps). The best
    model by ``config.metric`` is saved in ``output_dir`` (Hugging Face format plus a model
    card), loadable by ``Reranker(output_dir)`` and sentence-transformers ``CrossEncoder``.
    ``resume=True`` continues from the last checkpoint in ``output_dir``.
    """
    config = config or TrainConfig()
    mining = mining or MiningConfig(seed=config.seed)
    folder = Path(output_dir).expanduser()
    prepare_output(folder, resume=resume)
    return _Run(data, folder, config, mining, resume).run()


class _Run:
    def __init__(self, data: TrainingData, folder: Path, config: TrainConfig,
                 mining: MiningConfig, resume: bool) -> None:
        self.data, self.folder, self.config, self.mining = data, folder, config, mining
        checkpoints = list_checkpoints(folder) if resume else []
        self.checkpoint = checkpoints[-1] if checkpoints else None
        self.state: dict[str, Any] = {
            "global_step": 0, "epoch": 0, "micro_batch": 0, "best_metric": None,
            "best_step": None, "bad_evaluations": 0, "evaluations": [], "losses": [],
            "dev_baseline": None,
        }
        if self.checkpoint is not None:
            saved = load_state(self.checkpoint)
            differences = config.differences(saved["config"])
            if differences:
                raise InvalidInputError(
                    f"cannot resume {str(folder)!r} with different settings: "
                    + "; ".join(differences)
                )
            self.state.update(saved["trainer"])

    # -- setup ----------------------------------------------------------------------

    def run(self) -> TrainResult:
        config = self.config
        prepared = prepare(self.data, config, self.mining, self.folder)
        self.train_examples, self.dev = prepared.train, prepared.dev
        self.mining_report = prepared.mining_report
        self._load_model()  # seeds torch first: the new head's initial weights follow seed
        micro_per_epoch = math.ceil(len(self.train_examples) / config.batch_size)
        steps_per_epoch = math.ceil(micro_per_epoch / config.grad_accumulation)
        total = config.epochs * steps_per_epoch
        self.total_steps = min(total, config.max_steps) if config.max_steps else total
        self._make_optimiser()
        resumed_from = None
        if self.checkpoint is not None:
            restore_optimisation(self.torch, self.checkpoint, self.optimizer, self.scheduler)
            resumed_from = self.state["global_step"]
            log.info("resumed from step %d (%s)", resumed_from, self.checkpoint)
        if self.dev and self.state["dev_baseline"] is None:
            self.state["dev_baseline"] = self._dev_baseline()
        started = time.perf_counter()
        stopped = self._loop(micro_per_epoch, started)
        elapsed = time.perf_counter() - started
        if not self.dev:
            self._save_best()
        self._write_summary(stopped, elapsed)
        return TrainResult(
            output_dir=self.folder, global_step=self.state["global_step"],
            total_steps=self.total_steps, stopped=stopped, elapsed_s=elapsed,
            losses=list(self.state["losses"]), evaluations=list(self.state["evaluations"]),
            best_metric=self.state["best_metric"], best_step=self.state["best_step"],
            dev_baseline=self.state["dev_baseline"], resumed_from=resumed_from,
        )

    def _load_model(self) -> None:
        from rerankit._resolve import _source
        from rerankit.models import find_known_model
        from rerankit.rerankers._torch import (
            LoadedModel,
            import_torch,
            load_pretrained,
            resolve_device,
            usable_length,
        )
        from rerankit.rerankers.cross_encoder import CrossEncoderBackend

        self.torch = import_torch("Training")
        import transformers

        self.torch.manual_seed(self.config.seed)
        name = self.config.base_model
        source = str(self.checkpoint) if self.checkpoint else _source(
            name, find_known_model(name))
        device = resolve_device(self.config.device)
        model_config = load_pretrained(transformers.AutoConfig, source, "config", num_labels=1)
        tokenizer = load_pretrained(transformers.AutoTokenizer, source, "tokenizer")
        with quiet_transformers():  # "newly initialised head" is expected
            model = load_pretrained(transformers.AutoModelForSequenceClassification, source,
                                    "model", config=model_config, dtype=self.torch.float32)
        if model.config.pad_token_id is None and tokenizer.pad_token_id is not None:
            model.config.pad_token_id = tokenizer.pad_token_id
        if self.config.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        model.to(device)
        limit = usable_length(model.config, tokenizer)
        if self.config.max_length > limit:
            raise InvalidInputError(
                f"max_length={self.config.max_length} exceeds what {name!r} reads "
                f"({limit} tokens)"
            )
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        loaded = LoadedModel(self.torch, model, tokenizer, device, self.torch.float32, limit,
                             int(pad))
        self.model, self.tokenizer = model, tokenizer
        self.backend = CrossEncoderBackend.from_loaded(loaded, name,
                                                       max_length=self.config.max_length)

    def _make_optimiser(self) -> None:
        config, torch = self.config, self.torch
        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
        trained = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in trained if not any(k in n for k in no_decay)],
             "weight_decay": config.weight_decay},
            {"params": [p for n, p in trained if any(k in n for k in no_decay)],
             "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
        warmup = int(self.total_steps * config.warmup_ratio)
        total = self.total_steps

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total - step) / max(1, total - warmup))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    # -- the loop -------------------------------------------------------------------

    def _loop(self, micro_per_epoch: int, started: float) -> str:
        config, state = self.config, self.state
        bar = _progress(config.progress, self.total_steps, state["global_step"])
        stopped = "completed"
        try:
            while state["epoch"] < config.epochs:
                order = _epoch_order(len(self.train_examples), config.seed, state["epoch"])
                while state["micro_batch"] < micro_per_epoch:
                    if state["global_step"] >= self.total_steps:
                        return "max_steps" if config.max_steps else "completed"
                    if _over_budget(config.time_budget_s, started):
                        self._evaluate_and_checkpoint(force_eval=True)
                        return "time_budget"
                    loss = self._optimiser_step(order, micro_per_epoch)
                    bar(loss, self.scheduler.get_last_lr()[0])
                    if self._after_step(micro_per_epoch):
                        return "early_stopping"
                state["epoch"] += 1
                state["micro_batch"] = 0
                if self._evaluate_and_checkpoint(force_eval=True):
                    return "early_stopping"
            return stopped
        finally:
            bar(None, None)

    def _optimiser_step(self, order: list[int], micro_per_epoch: int) -> float:
        config, state, torch = self.config, self.state, self.torch
        self.model.train()
        total = 0.0
        first = state["micro_batch"]
        last = min(first + config.grad_accumulation, micro_per_epoch)
        for micro in range(first, last):
            picked = order[micro * config.batch_size:(micro + 1) * config.batch_size]
            groups = [self.train_examples[i] for i in picked]
            loss = self._group_loss(groups, state["epoch"])
            (loss / (last - first)).backward()
            total += float(loss.detach()) / (last - first)
        if config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        state["micro_batch"] = last
        state["global_step"] += 1
        state["losses"].append(round(total, 6))
        self._log({"step": state["global_step"], "epoch": state["epoch"], "loss": total,
                   "lr": self.scheduler.get_last_lr()[0]})
        return total

    def _group_loss(self, groups: Sequence[TrainingExample], epoch: int) -> Any:
        torch = self.torch
        pairs, sizes = [], []
        passages = self.data.passages
        for example in groups:
            rng = random.Random(f"{self.config.seed}/{epoch}/{example.query_id}")
            positive = example.positives[rng.randrange(len(example.positives))]
            texts = [passages[positive]] + [passages[n] for n in example.negatives]
            pairs.extend(self.backend.encode(example.query, texts))
            sizes.append(len(texts))
        flat = self.backend.logits(pairs)
        width = max(sizes)
        logits = torch.zeros((len(groups), width), dtype=flat.dtype, device=flat.device)
        mask = torch.zeros((len(groups), width), dtype=flat.dtype, device=flat.device)
        offset = 0
        for row, size in enumerate(sizes):
            logits[row, :size] = flat[offset:offset + size]
            mask[row, :size] = 1.0
            offset += size
        return compute_loss(self.config.loss, torch, logits, mask)

    def _after_step(self, micro_per_epoch: int) -> bool:
        """Evaluate / checkpoint on schedule; True when early stopping says stop."""
        config, step = self.config, self.state["global_step"]
        end_of_epoch = self.state["micro_batch"] >= micro_per_epoch
        if end_of_epoch:
            return False  # the epoch loop evaluates and checkpoints
        due_eval = bool(config.eval_every) and step % config.eval_every == 0
        due_checkpoint = step % config.checkpoint_every == 0
        finished = step >= self.total_steps
        if due_eval or finished:
            return self._evaluate_and_checkpoint(force_eval=True)
        if due_checkpoint:
            self._checkpoint()
        return False

    def _evaluate_and_checkpoint(self, *, force_eval: bool) -> bool:
        stop = False
        already = self.state["evaluations"] and (
            self.state["evaluations"][-1]["step"] == self.state["global_step"])
        if force_eval and self.dev and not already:
            stop = self._evaluate()
        self._checkpoint()
        return stop

    # -- evaluation -----------------------------------------------------------------

    def _evaluate(self) -> bool:
        """Rerank the dev lists, record metrics, save the best; True to stop early."""
        config, state = self.config, self.state
        started = time.perf_counter()
        metrics = self._dev_metrics(self._dev_scores())
        value = metrics[config.metric.lower()]
        entry = {"step": state["global_step"], "epoch": state["epoch"], "metrics": metrics,
                 "seconds": round(time.perf_counter() - started, 2)}
        state["evaluations"].append(entry)
        self._log({"eval": entry})
        log.info("step %d dev %s", state["global_step"], metrics)
        if state["best_metric"] is None or value > state["best_metric"]:
            state["best_metric"], state["best_step"] = value, state["global_step"]
            state["bad_evaluations"] = 0
            self._save_best()
            return False
        state["bad_evaluations"] += 1
        return config.patience is not None and state["bad_evaluations"] >= config.patience

    def _dev_scores(self) -> dict[str, dict[str, float]]:
        from rerankit.rerankers.base import score_encoded

        self.model.eval()
        pairs, owners = [], []
        for item in self.dev:
            texts = [self.data.passages[p] for p in item.candidates]
            pairs.extend(self.backend.encode(item.query, texts))
            owners.extend((item.query_id, p) for p in item.candidates)
        raw = score_encoded(self.backend, pairs, token_budget=4096, max_batch_size=64)
        run: dict[str, dict[str, float]] = {}
        for (qid, pid), score in zip(owners, raw, strict=True):
            run.setdefault(qid, {})[pid] = float(score)
        return run

    def _dev_metrics(self, run: dict[str, Any]) -> dict[str, float]:
        qrels = {d.query_id: {p: 1 for p in d.positives} for d in self.dev}
        values = evaluate(qrels, run, DEV_METRICS)
        return {k: round(v, 6) for k, v in values.items()}

    def _dev_baseline(self) -> dict[str, float]:
        return self._dev_metrics({d.query_id: list(d.candidates) for d in self.dev})

    # -- saving ---------------------------------------------------------------------

    def _checkpoint(self) -> None:
        save_checkpoint(
            self.torch, self.folder, self.state["global_step"], model=self.model,
            tokenizer=self.tokenizer, optimizer=self.optimizer, scheduler=self.scheduler,
            state={"config": self.config.to_dict(), "trainer": self.state},
            keep=self.config.keep_checkpoints,
        )

    def _summary(self, stopped: str, elapsed: float) -> dict[str, Any]:
        state = self.state
        return {
            "base_model": self.config.base_model,
            "config": self.config.to_dict(),
            "mining": {"config": self.mining.to_dict(), "report": self.mining_report},
            "data": {"source": self.data.source, "train_queries": len(self.train_examples),
                     "dev_queries": len(self.dev), "passages": len(self.data.passages),
                     "skipped_rows": len(self.data.skipped)},
            "global_step": state["global_step"], "total_steps": self.total_steps,
            "stopped": stopped, "elapsed_s": round(elapsed, 1),
            "evaluations": state["evaluations"], "best_step": state["best_step"],
            "best_metric": state["best_metric"], "metric": self.config.metric,
            "dev_baseline": state["dev_baseline"],
        }

    def _save_best(self) -> None:
        summary = self._summary("running", 0.0)
        save_model(self.model, self.tokenizer, self.folder, extra_files={
            TRAINING_FILE: json.dumps(summary, indent=1, ensure_ascii=False),
            "README.md": model_card(summary),
        })

    def _write_summary(self, stopped: str, elapsed: float) -> None:
        summary = self._summary(stopped, elapsed)
        write_json(self.folder / TRAINING_FILE, summary)
        (self.folder / "README.md").write_text(model_card(summary), encoding="utf-8")

    def _log(self, record: dict[str, Any]) -> None:
        with open(self.folder / "train_log.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _over_budget(budget_s: float | None, started: float) -> bool:
    return budget_s is not None and time.perf_counter() - started > budget_s


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def _progress(enabled: bool, total: int, initial: int) -> Callable[[float | None, float | None],
                                                                    None]:
    """``update(loss, lr)`` advancing a bar with ETA; ``update(None, None)`` closes it."""
    if not enabled:
        return lambda loss, lr: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(total=total, initial=initial, desc="train", unit="step", dynamic_ncols=True)

        def update(loss: float | None, lr: float | None) -> None:
            if loss is None:
                bar.close()
                return
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", refresh=False)
            bar.update(1)

        return update
    started, done = time.perf_counter(), [initial]

    def plain(loss: float | None, lr: float | None) -> None:
        if loss is None:
            return
        done[0] += 1
        rate = (done[0] - initial) / max(1e-9, time.perf_counter() - started)
        eta = (total - done[0]) / rate if rate else float("inf")
        if done[0] % 10 == 0 or done[0] == total:
            log.warning("step %d/%d loss %.4f lr %.2e eta %.0fs", done[0], total, loss, lr, eta)

    return plain

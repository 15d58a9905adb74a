"""``rerankit train``: fine-tune a cross-encoder with hard negatives from the first stage."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any, TextIO


def _cmd_train(args: argparse.Namespace, out: TextIO) -> int:
    from rerankit.train import MiningConfig, TrainConfig, load_training_data, train

    logging.getLogger("rerankit.train").setLevel(logging.INFO)
    config = TrainConfig(
        base_model=args.base, loss=args.loss, epochs=args.epochs, batch_size=args.batch_size,
        grad_accumulation=args.grad_accumulation, learning_rate=args.lr,
        warmup_ratio=args.warmup_ratio, max_length=args.max_length, max_steps=args.max_steps,
        max_train_queries=args.max_queries, dev_size=args.dev_size, dev_depth=args.dev_depth,
        eval_every=args.eval_every, metric=args.metric, patience=args.patience,
        checkpoint_every=args.checkpoint_every, time_budget_s=args.time_budget,
        seed=args.seed, device=args.device, progress=not args.no_progress,
        freeze_embeddings=args.freeze_embeddings,
    )
    mining = MiningConfig(
        method=args.mine, num_negatives=args.negatives, depth=args.mine_depth,
        skip_top=args.skip_top, sample=not args.top_negatives, teacher=args.teacher,
        teacher_margin=args.teacher_margin, tokenizer=args.tokenizer, seed=args.seed,
    )
    data = load_training_data(args.data, split=args.split, language=args.language)
    result = train(data, args.out, config, mining, resume=args.resume)
    summary: dict[str, Any] = {
        "output": str(result.output_dir), "stopped": result.stopped,
        "steps": f"{result.global_step}/{result.total_steps}",
        "minutes": round(result.elapsed_s / 60, 1), "best_step": result.best_step,
        f"best {config.metric}": result.best_metric, "dev first stage": result.dev_baseline,
    }
    out.write(json.dumps(summary, indent=2) + "\n")
    out.write(f"load it with: Reranker({str(result.output_dir)!r})\n")
    return 0


def add_train_command(commands: Any) -> None:
    """Register ``rerankit train``."""
    train = commands.add_parser(
        "train", help="fine-tune a cross-encoder on (query, positive) data",
        description="Fine-tune a one-logit cross-encoder from an encoder checkpoint, with "
        "hard negatives mined by rerankit's first stage; the best model by the dev metric "
        "is saved in Hugging Face format with a model card.",
    )
    train.add_argument("--data", required=True,
                       help="BEIR folder, positives JSON ({id, query, positive}) or its folder, "
                       "or JSONL ({query, positive, negatives?})")
    train.add_argument("--out", required=True, help="output folder (the trained model)")
    train.add_argument("--base", default="minilm",
                       help="encoder to start from: hub id, folder or alias (default: the "
                       "pip-installed all-MiniLM-L6-v2)")
    train.add_argument("--split", default="train", help="BEIR qrels split (default train)")
    train.add_argument("--language", default="en", choices=("en", "ko"),
                       help="which file of a positives folder (msmarco_eng / msmarco_kor)")
    train.add_argument("--loss", default="listwise", choices=("listwise", "bce"))
    train.add_argument("--epochs", type=int, default=1)
    train.add_argument("--batch-size", type=int, default=8, help="queries per micro-batch")
    train.add_argument("--grad-accumulation", type=int, default=1)
    train.add_argument("--lr", type=float, default=3e-5)
    train.add_argument("--warmup-ratio", type=float, default=0.1)
    train.add_argument("--max-length", type=int, default=256)
    train.add_argument("--max-steps", type=int)
    train.add_argument("--max-queries", type=int, help="use only N training queries")
    train.add_argument("--dev-size", type=int, default=200)
    train.add_argument("--dev-depth", type=int, default=20)
    train.add_argument("--eval-every", type=int, help="also evaluate every N steps")
    train.add_argument("--metric", default="ndcg@10")
    train.add_argument("--patience", type=int, default=2)
    train.add_argument("--checkpoint-every", type=int, default=200)
    train.add_argument("--time-budget", type=float, help="stop after N seconds (saved, resumable)")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--device")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--no-progress", action="store_true")
    train.add_argument("--freeze-embeddings", action="store_true",
                       help="keep the word-embedding matrix fixed (much cheaper on a CPU for "
                       "multilingual encoders, whose vocabulary is most of the parameters)")
    mine = train.add_argument_group("hard-negative mining")
    mine.add_argument("--mine", default="bm25", choices=("bm25", "dense", "hybrid", "random"))
    mine.add_argument("--negatives", type=int, default=3, help="negatives per query")
    mine.add_argument("--mine-depth", type=int, default=30, help="candidates to draw from")
    mine.add_argument("--skip-top", type=int, default=0,
                      help="false-negative guard: ignore the first N candidates")
    mine.add_argument("--top-negatives", action="store_true",
                      help="take the top candidates instead of sampling among them")
    mine.add_argument("--teacher", help="reranker whose scores guard against false negatives")
    mine.add_argument("--teacher-margin", type=float, default=0.95,
                      help="drop candidates the teacher scores >= margin x the positive")
    mine.add_argument("--tokenizer", default="auto", help="BM25 tokenizer (auto, kiwi, ...)")
    train.set_defaults(run=_cmd_train)

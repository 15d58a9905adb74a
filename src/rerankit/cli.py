"""Command line: ``rerankit rerank``, ``models``, ``index``, ``search`` and ``bench``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rerankit._cli_format import preview as _preview
from rerankit._cli_format import table as _table
from rerankit._exceptions import InvalidInputError, RerankitError
from rerankit.models import KNOWN_MODELS, RECIPES
from rerankit.retrieval._corpus import parse_jsonl


def read_documents(source: str, stdin: TextIO | None = None) -> list[Any]:
    """Documents from a JSONL file (or ``-`` for stdin): one JSON string or object per line."""
    if source == "-":
        stream = stdin or sys.stdin
        data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode()
    else:
        try:
            with open(source, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise InvalidInputError(f"cannot read --docs {source!r}: {exc.strerror}") from exc
    documents = []
    for number, item in parse_jsonl(data, f"--docs {source!r}"):
        if not isinstance(item, (str, dict)):
            raise InvalidInputError(
                f"--docs line {number}: expected a JSON string or an object with 'text', "
                f"got {type(item).__name__}"
            )
        documents.append(item)
    return documents


def _cmd_rerank(args: argparse.Namespace, out: TextIO) -> int:
    from rerankit.reranker import Reranker

    documents = read_documents(args.docs)
    reranker = Reranker(
        args.model, backend=args.backend, device=args.device, max_length=args.max_length,
        instruction=args.instruction, trust_remote_code=args.trust_remote_code,
        long_documents="truncate" if args.truncate else "windows", aggregate=args.aggregate,
        calibration=None if args.no_calibration else "auto", threads=args.threads,
    )
    rank_fields = args.rank_fields
    if rank_fields and rank_fields != "*":
        rank_fields = [f.strip() for f in rank_fields.split(",") if f.strip()]
    results = reranker.rerank(args.query, documents, top_n=args.top_n, min_score=args.min_score,
                              rank_fields=rank_fields or None)
    if args.json:
        payload = {
            "model": reranker.model_name,
            "backend": reranker.spec.backend,
            "query": args.query,
            "results": [
                {"rank": r.rank, "index": r.index, "score": r.score, "raw_score": r.raw_score,
                 "truncated": r.truncated, "window": r.window, "windows": r.windows,
                 "document": r.document}
                for r in results
            ],
        }
        json.dump(payload, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return 0
    width = max(30, shutil.get_terminal_size((120, 20)).columns - 40)
    rows = [[str(r.rank + 1), str(r.index), f"{r.score:.4f}", f"{r.raw_score:.4f}",
             ("✂ " if r.truncated else "") + _preview(r.text, width)] for r in results]
    out.write(f"{reranker!r}\nquery: {args.query}\n")
    out.write(_table(rows, ["rank", "index", "score", "raw", "document"]) + "\n")
    if any(r.truncated for r in results):
        out.write("✂ = the model saw only the start of this document (max_length "
                  f"{reranker.max_length} tokens)\n")
    return 0


def _cmd_models(args: argparse.Namespace, out: TextIO) -> int:
    if args.json:
        json.dump([{**vars(m), "aliases": list(m.aliases)} for m in KNOWN_MODELS], out, indent=2)
        out.write("\n")
        return 0
    rows = [[m.id, m.backend, str(m.max_length), m.parameters, m.languages, m.licence,
             ("" if m.local else "not local: ") + m.note] for m in KNOWN_MODELS]
    out.write(_table(rows, ["model", "backend", "max len", "params", "languages", "licence",
                            "note"]) + "\n\nrecipes:\n")
    out.write("\n".join(f"  {name:<20} {recipe}" for name, recipe in RECIPES.items()) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rerankit`` command."""
    parser = argparse.ArgumentParser(prog="rerankit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    rerank = commands.add_parser("rerank", help="rerank documents for one query")
    rerank.add_argument("--model", "-m", default="default",
                        help="hub id, local folder or alias (default: the offline MiniLM)")
    rerank.add_argument("--query", "-q", required=True)
    rerank.add_argument("--docs", "-d", required=True,
                        help="JSONL file of strings or objects with 'text', or - for stdin")
    rerank.add_argument("--top-n", type=int)
    rerank.add_argument("--min-score", type=float, help="drop results below this probability")
    rerank.add_argument("--backend")
    rerank.add_argument("--device")
    rerank.add_argument("--max-length", type=int)
    rerank.add_argument("--threads", type=int,
                        help="intra-op threads (default: RERANKIT_NUM_THREADS or the usable CPUs)")
    rerank.add_argument("--instruction", help="task instruction for LLM rerankers")
    rerank.add_argument("--trust-remote-code", action="store_true")
    rerank.add_argument("--truncate", action="store_true",
                        help="read only the start of long documents (default: windows)")
    rerank.add_argument("--aggregate", default="max",
                        help="window scores -> document: max, first, mean, topk-mean")
    rerank.add_argument("--rank-fields", help="fields of JSON objects to read, comma-"
                        "separated, or '*' for all (as 'key: value' lines)")
    rerank.add_argument("--no-calibration", action="store_true",
                        help="ignore a calibration saved for the model")
    rerank.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rerank.set_defaults(run=_cmd_rerank)

    models = commands.add_parser("models", help="print the known-model table")
    models.add_argument("--json", action="store_true")
    models.set_defaults(run=_cmd_models)

    from rerankit._cli_bench import add_bench_command
    from rerankit._cli_calibrate import add_calibrate_command
    from rerankit._cli_export import add_export_command
    from rerankit._cli_index import add_index_commands
    from rerankit._cli_serve import add_serve_command
    from rerankit._cli_train import add_train_command

    add_index_commands(commands)
    add_bench_command(commands)
    add_train_command(commands)
    add_calibrate_command(commands)
    add_serve_command(commands)
    add_export_command(commands)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point; returns the exit status (2: bad input, 1: model or runtime error)."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # quiet model loading in a CLI
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        return args.run(args, out or sys.stdout)
    except BrokenPipeError:  # e.g. `rerankit models | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except InvalidInputError as exc:
        print(f"rerankit: error: {exc}", file=sys.stderr)
        return 2
    except RerankitError as exc:
        print(f"rerankit: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

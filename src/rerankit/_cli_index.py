"""CLI commands of the first stage: ``rerankit index`` and ``rerankit search``."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any, TextIO

from rerankit._cli_format import preview, table
from rerankit._exceptions import InvalidInputError


def _weights(text: str) -> dict[str, float]:
    """``bm25=0.7,dense=0.3`` -> {"bm25": 0.7, "dense": 0.3}."""
    weights = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise InvalidInputError(
                f"--weights {text!r}: expected name=number pairs, e.g. bm25=0.7,dense=0.3"
            ) from None
    return weights


def _tokenizer_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.stopwords:
        options["stopwords"] = args.stopwords
    if args.stemmer:
        options["stemmer"] = args.stemmer
    if args.keep_tags:
        options["keep_tags"] = [t.strip() for t in args.keep_tags.split(",") if t.strip()]
    return options


def _build(args: argparse.Namespace, documents: list[Any]) -> Any:
    from rerankit.retrieval import BM25Index, DenseIndex, HybridIndex

    bm25_options = {"tokenizer": args.tokenizer, "k1": args.k1, "b": args.b,
                    "method": args.method, **_tokenizer_options(args)}
    dense_options = {"model": args.encoder, "show_progress": not args.quiet}
    if args.kind == "bm25":
        return BM25Index.build(documents, **bm25_options)
    if args.kind == "dense":
        return DenseIndex.build(documents, **dense_options)
    tokenizer = bm25_options.pop("tokenizer")
    dense_options.pop("model")
    fusion = {"fusion": args.fusion, "rrf_k": args.rrf_k, "normalization": args.normalization}
    if args.weights:
        fusion["weights"] = _weights(args.weights)
    return HybridIndex.build(documents, tokenizer=tokenizer, model=args.encoder,
                             bm25_options=bm25_options, dense_options=dense_options, **fusion)


def _cmd_index(args: argparse.Namespace, out: TextIO) -> int:
    from rerankit.retrieval import load_index, read_corpus

    documents = read_corpus(args.corpus)
    folder = Path(args.out)
    if args.add:
        index = load_index(folder)
        index.add(documents)
        action = f"added {len(documents)} documents to"
    else:
        if (folder / "manifest.json").exists() and not args.overwrite:
            raise InvalidInputError(
                f"{str(folder)!r} already holds an index: pass --add to add documents to it or "
                "--overwrite to replace it"
            )
        index = _build(args, documents)
        if args.overwrite and folder.exists():
            shutil.rmtree(folder)
        action = f"indexed {len(documents)} documents into"
    index.save(folder)
    out.write(f"{action} {folder} ({index.kind}, {len(index)} documents)\n")
    out.write(json.dumps(index.settings(), ensure_ascii=False) + "\n")
    return 0


def _cmd_search(args: argparse.Namespace, out: TextIO) -> int:
    from rerankit.pipeline import Pipeline
    from rerankit.retrieval import load_index

    index = load_index(args.index)
    pipeline = Pipeline(index, args.rerank, depth=args.depth, top_k=args.top_k,
                        skip=args.skip, latency_budget_ms=args.budget_ms)
    result = pipeline.run(args.query)
    if args.json:
        payload = {
            "query": result.query, "index": index.kind, "reranker": args.rerank,
            "retrieved": result.retrieved, "rerank_depth": result.rerank_depth,
            "skipped": result.skipped, "skip_reason": result.skip_reason,
            "timings_ms": result.timings_ms,
            "results": [{"rank": h.rank, "id": h.id, "score": h.score, "reranked": h.reranked,
                         "first_stage_rank": h.first_stage_rank,
                         "first_stage_score": h.first_stage_score, "title": h.document.title,
                         "text": h.document.text} for h in result.hits],
        }
        json.dump(payload, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return 0
    width = max(30, shutil.get_terminal_size((120, 20)).columns - 50)
    rows = [[str(h.rank), h.id, f"{h.score:.4f}", str(h.first_stage_rank),
             preview(h.text, width)] for h in result.hits]
    stages = ", ".join(f"{name} {ms:.1f} ms" for name, ms in result.timings_ms.items())
    out.write(f"query: {result.query}\n")
    if args.rerank:
        status = (f"skipped ({result.skip_reason})" if result.skipped
                  else f"reranked top {result.rerank_depth} with {args.rerank}")
        out.write(f"{index.kind}: {result.retrieved} candidates; {status}\n")
    out.write(table(rows, ["rank", "id", "score", "1st", "document"]) + "\n")
    out.write(f"timings: {stages}\n")
    return 0


def add_index_commands(commands: Any) -> None:
    """Register ``index`` and ``search`` on the CLI's subcommand parser."""
    index = commands.add_parser("index", help="build a BM25, dense or hybrid index")
    index.add_argument("--corpus", "-c", required=True,
                       help="BEIR corpus.jsonl (or its folder), or JSONL with id and 'text'")
    index.add_argument("--out", "-o", required=True, help="folder to save the index in")
    index.add_argument("--kind", choices=("bm25", "dense", "hybrid"), default="bm25")
    index.add_argument("--add", action="store_true", help="add documents to an existing index")
    index.add_argument("--overwrite", action="store_true", help="replace an existing index")
    index.add_argument("--tokenizer", default="auto",
                       help="auto (by script), regex, english, kiwi or whitespace")
    index.add_argument("--stopwords", help="stop word list, e.g. en")
    index.add_argument("--stemmer", help="stemmer, e.g. english")
    index.add_argument("--keep-tags", help="Kiwi part-of-speech tags or prefixes to keep, "
                       "comma-separated")
    index.add_argument("--k1", type=float, default=1.5)
    index.add_argument("--b", type=float, default=0.75)
    index.add_argument("--method", default="lucene", help="BM25 variant (bm25s)")
    index.add_argument("--encoder", default="default",
                       help="dense encoder (default: the offline all-MiniLM-L6-v2)")
    index.add_argument("--fusion", choices=("rrf", "weighted"), default="rrf")
    index.add_argument("--weights", help="fusion weights, e.g. bm25=0.7,dense=0.3")
    index.add_argument("--rrf-k", type=float, default=60)
    index.add_argument("--normalization", choices=("minmax", "zscore"), default="minmax")
    index.add_argument("--quiet", action="store_true", help="no progress bars")
    index.set_defaults(run=_cmd_index)

    search = commands.add_parser("search", help="search an index, optionally reranking")
    search.add_argument("--index", "-i", required=True)
    search.add_argument("--query", "-q", required=True)
    search.add_argument("--rerank", "-r", metavar="MODEL", help="reranker model or alias")
    search.add_argument("--depth", "-n", type=int, default=100,
                        help="candidates the reranker reads")
    search.add_argument("--top-k", "-k", type=int, default=10)
    search.add_argument("--skip", help="skip rule: margin:X, abs-margin:X, agree")
    search.add_argument("--budget-ms", type=float, help="per-query latency budget")
    search.add_argument("--json", action="store_true")
    search.set_defaults(run=_cmd_search)

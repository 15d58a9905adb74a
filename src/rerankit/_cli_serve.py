"""``rerankit serve``: the rerank server on uvicorn."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, TextIO


def parse_model_specs(specs: list[str]) -> dict[str, str]:
    """``MODEL`` or ``NAME=MODEL`` (NAME is what clients send as ``model``)."""
    from rerankit._exceptions import InvalidInputError

    out: dict[str, str] = {}
    for spec in specs:
        name, sep, source = spec.partition("=")
        name, source = (name.strip(), source.strip()) if sep else (spec.strip(), spec.strip())
        if not name or not source:
            raise InvalidInputError(f"--model {spec!r}: expected MODEL or NAME=MODEL")
        if name in out:
            raise InvalidInputError(f"--model: the name {name!r} is given twice")
        out[name] = source
    return out


_SPEC_ENV = "RERANKIT_SERVE_SPEC"


def _build_app(spec: dict[str, Any]) -> Any:
    """The app for a serve spec: models (name -> source), Reranker options, settings."""
    from rerankit.reranker import Reranker
    from rerankit.server import ServerSettings, create_app

    settings = ServerSettings(**{**spec["settings"],
                                 "api_keys": tuple(spec["settings"]["api_keys"])})
    options = spec["options"]
    models = {name: (lambda source=source: Reranker(source, **options))
              for name, source in spec["models"].items()}
    return create_app(models, settings)


def app_from_env() -> Any:
    """uvicorn factory for ``--workers N``: each worker process builds its own app."""
    return _build_app(json.loads(os.environ[_SPEC_ENV]))


def _cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    from rerankit._exceptions import InvalidInputError
    from rerankit._optional import require
    from rerankit._threads import WORKERS_ENV

    require("uvicorn", feature="rerankit serve")
    import uvicorn

    if args.workers < 1:
        raise InvalidInputError(f"--workers must be >= 1, got {args.workers}")
    keys = list(args.api_key or [])
    keys += [k for k in os.environ.get("RERANKIT_API_KEYS", "").split(",") if k.strip()]
    settings = {
        "max_documents": args.max_documents, "max_body_bytes": args.max_body_mb * 1024 * 1024,
        "max_queue": args.max_queue, "batch_wait_ms": args.batch_wait_ms,
        "deadline_s": args.deadline, "api_keys": [k.strip() for k in keys],
    }
    options = {k: v for k, v in (("device", args.device), ("max_length", args.max_length),
                                 ("threads", args.threads), ("cache", args.cache))
               if v is not None}
    spec = {"models": parse_model_specs(args.model), "options": options, "settings": settings}
    # every worker divides the CPUs by the worker count (no oversubscription)
    os.environ[WORKERS_ENV] = str(args.workers)
    out.write(f"serving {', '.join(spec['models'])} on http://{args.host}:{args.port} with "
              f"{args.workers} worker(s) (POST /v1/rerank, /v2/rerank, /rerank; "
              "GET /health, /v1/models, /metrics, /docs)\n")
    out.flush()
    common = {"host": args.host, "port": args.port, "log_level": args.log_level,
              "timeout_graceful_shutdown": args.graceful_timeout}
    if args.workers == 1:
        uvicorn.run(_build_app(spec), **common)
    else:
        os.environ[_SPEC_ENV] = json.dumps(spec)
        uvicorn.run("rerankit._cli_serve:app_from_env", factory=True, workers=args.workers,
                    **common)
    return 0


def add_serve_command(commands: Any) -> None:
    """Register ``rerankit serve``."""
    serve = commands.add_parser(
        "serve", help="run the rerank server (Cohere v1/v2, Jina and TEI formats)")
    serve.add_argument("--model", "-m", action="append", required=True,
                       help="MODEL or NAME=MODEL; repeat to serve several (first = default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--device")
    serve.add_argument("--max-length", type=int)
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes; each loads the models and gets CPUs / N threads")
    serve.add_argument("--threads", type=int,
                       help="intra-op threads per worker (default: usable CPUs / workers)")
    serve.add_argument("--cache",
                       help="score cache folder: repeated (query, document) pairs skip the model")
    serve.add_argument("--max-documents", type=int, default=1000,
                       help="documents per request (more: 413)")
    serve.add_argument("--max-body-mb", type=int, default=16)
    serve.add_argument("--max-queue", type=int, default=64,
                       help="requests waiting per model (more: 429 with Retry-After)")
    serve.add_argument("--batch-wait-ms", type=float, default=2.0,
                       help="how long a batch waits for more requests")
    serve.add_argument("--deadline", type=float, default=60.0,
                       help="seconds a request may take (more: 504)")
    serve.add_argument("--api-key", action="append",
                       help="accepted Bearer key (repeat; also RERANKIT_API_KEYS=k1,k2)")
    serve.add_argument("--graceful-timeout", type=int, default=30,
                       help="seconds in-flight requests get to finish on shutdown")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=_cmd_serve)

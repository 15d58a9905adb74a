"""``rerankit serve``: the rerank server on uvicorn."""

from __future__ import annotations

import argparse
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


def _cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    from rerankit._optional import require

    require("uvicorn", feature="rerankit serve")
    import uvicorn

    from rerankit.reranker import Reranker
    from rerankit.server import ServerSettings, create_app

    keys = list(args.api_key or [])
    keys += [k for k in os.environ.get("RERANKIT_API_KEYS", "").split(",") if k.strip()]
    settings = ServerSettings(
        max_documents=args.max_documents, max_body_bytes=args.max_body_mb * 1024 * 1024,
        max_queue=args.max_queue, batch_wait_ms=args.batch_wait_ms,
        deadline_s=args.deadline, api_keys=tuple(k.strip() for k in keys),
    )
    options = {"device": args.device, "max_length": args.max_length}
    models = {name: (lambda source=source: Reranker(source, **options))
              for name, source in parse_model_specs(args.model).items()}
    app = create_app(models, settings)
    out.write(f"serving {', '.join(models)} on http://{args.host}:{args.port} "
              "(POST /v1/rerank, /v2/rerank, /rerank; GET /health, /v1/models, /metrics, /docs)\n")
    out.flush()
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=args.graceful_timeout)
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

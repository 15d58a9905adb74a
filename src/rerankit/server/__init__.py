"""The rerank server (``rerankit serve``): Cohere v1/v2, Jina and TEI formats.

Needs ``pip install 'rerankit[server]'`` (FastAPI, uvicorn, prometheus-client).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rerankit._optional import require

        require("fastapi", feature="The rerank server")
        require("prometheus_client", feature="The rerank server")
        from rerankit.server import app

        return getattr(app, name)
    raise AttributeError(f"module 'rerankit.server' has no attribute {name!r}")

"""The rerank server: an ASGI app speaking Cohere v1/v2, Jina and TEI rerank formats.

``create_app(models, settings)`` returns a FastAPI app. Models load in the lifespan (on a
thread, so ``/health`` answers 503 until they are ready); each gets a
:class:`~rerankit.server.scheduler.ModelScheduler`. Shutdown lets queued work finish.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from rerankit._exceptions import InvalidInputError, RerankitError
from rerankit.server.errors import ApiError, error_body, style_of
from rerankit.server.metrics import Metrics
from rerankit.server.scheduler import Job, ModelScheduler, QueueFull
from rerankit.server.schemas import CohereV1Request, CohereV2Request, TEIRequest


@dataclass(frozen=True)
class ServerSettings:
    """Limits and behaviour of a server (the ``rerankit serve`` flags)."""

    max_documents: int = 1000
    max_body_bytes: int = 16 * 1024 * 1024
    max_queue: int = 64
    batch_wait_ms: float = 2.0
    max_batch_documents: int = 512
    deadline_s: float = 60.0
    api_keys: tuple[str, ...] = ()
    search_units_per: int = 100  # Cohere bills one search unit per 100 documents
    extra: Mapping[str, Any] = field(default_factory=dict)


ModelSource = Any  # a Reranker, or a zero-argument callable returning one


def create_app(models: Mapping[str, ModelSource], settings: ServerSettings | None = None
               ) -> Any:
    """The ASGI app serving ``models`` (name -> Reranker or factory); the first is default."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response

    if not models:
        raise InvalidInputError("serve at least one model")
    settings = settings or ServerSettings()
    metrics = Metrics()
    state: dict[str, Any] = {"ready": False, "schedulers": {}, "error": None}

    async def load_models() -> None:
        try:
            for name, source in models.items():
                reranker = await asyncio.to_thread(_materialise, source)
                scheduler = ModelScheduler(
                    name, reranker, max_queue=settings.max_queue,
                    batch_wait_ms=settings.batch_wait_ms,
                    max_batch_documents=settings.max_batch_documents,
                    on_batch=metrics.on_batch)
                scheduler.start()
                state["schedulers"][name] = scheduler
            state["ready"] = True
        except Exception as exc:
            state["error"] = f"{type(exc).__name__}: {exc}"

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        # models load in the background: /health answers 503 until they are ready
        loading = asyncio.get_running_loop().create_task(load_models())
        yield
        state["ready"] = False
        if not loading.done():
            loading.cancel()
        for scheduler in state["schedulers"].values():
            await scheduler.stop()

    app = FastAPI(title="rerankit", version=_version(), lifespan=lifespan,
                  description="Rerank API compatible with Cohere (v1, v2), Jina and "
                  "Text Embeddings Inference.")

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        style = style_of(request.url.path)
        endpoint = request.url.path if request.url.path in _ENDPOINTS else "other"
        try:
            _check_key(request, settings)
            length = request.headers.get("content-length")
            if length is not None and length.isdigit():
                size = int(length)
            elif request.method in ("POST", "PUT", "PATCH"):
                size = len(await request.body())  # chunked: read (starlette caches it)
            else:
                size = 0
            if size > settings.max_body_bytes:
                raise ApiError(413, f"request body over {settings.max_body_bytes} bytes")
            response = await call_next(request)
        except ApiError as exc:
            response = JSONResponse(error_body(style, exc.status, exc.message),
                                    status_code=exc.status, headers=exc.headers)
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Any:
        return JSONResponse(error_body(style_of(request.url.path), exc.status, exc.message),
                            status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        message = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                            for e in exc.errors()[:5])
        return JSONResponse(error_body(style_of(request.url.path), 422, message),
                            status_code=422)

    async def score(model: str | None, job: Job) -> tuple[str, list[Any]]:
        if not state["ready"]:
            raise ApiError(503, "models are loading" if state["error"] is None
                           else f"model failed to load: {state['error']}")
        name = model or next(iter(state["schedulers"]))
        scheduler = state["schedulers"].get(name)
        if scheduler is None:
            raise ApiError(404, f"model {name!r} is not served here; served: "
                           f"{', '.join(state['schedulers'])}")
        if not job.documents:
            return name, []
        if len(job.documents) > settings.max_documents:
            raise ApiError(413, f"{len(job.documents)} documents: at most "
                           f"{settings.max_documents} per request")
        metrics.queue_depth.labels(name).set(scheduler.depth + 1)
        try:
            results = await asyncio.wait_for(scheduler.submit(job), settings.deadline_s)
        except QueueFull as exc:
            raise ApiError(429, "too many requests waiting; retry later",
                           {"Retry-After": str(math.ceil(exc.retry_after))}) from None
        except TimeoutError:
            raise ApiError(504, f"no answer within {settings.deadline_s} s") from None
        except InvalidInputError as exc:
            raise ApiError(400, str(exc)) from None
        except RerankitError as exc:
            raise ApiError(500, f"{type(exc).__name__}: {exc}") from None
        finally:
            metrics.queue_depth.labels(name).set(scheduler.depth)
        return name, results

    @app.post("/v1/rerank", summary="Cohere v1 / Jina rerank")
    async def rerank_v1(body: CohereV1Request) -> Any:
        job = Job(body.query, body.documents, max_tokens_per_doc=body.max_tokens_per_doc,
                  max_chunks_per_doc=body.max_chunks_per_doc, rank_fields=body.rank_fields)
        name, results = await score(body.model, job)
        results = results[: body.top_n] if body.top_n else results
        items = []
        for r in results:
            item: dict[str, Any] = {"index": r.index, "relevance_score": r.score}
            if body.return_documents:
                item["document"] = ({"text": r.document} if isinstance(r.document, str)
                                    else dict(r.document))
            items.append(item)
        tokens = sum(r.tokens for r in results)
        return {"id": str(uuid.uuid4()), "model": name, "results": items,
                "meta": {"api_version": {"version": "1"},
                         "billed_units": {"search_units": _units(body.documents, settings)}},
                "usage": {"total_tokens": tokens}}

    @app.post("/v2/rerank", summary="Cohere v2 rerank")
    async def rerank_v2(body: CohereV2Request) -> Any:
        job = Job(body.query, body.documents, max_tokens_per_doc=body.max_tokens_per_doc)
        _, results = await score(body.model, job)
        results = results[: body.top_n] if body.top_n else results
        return {"id": str(uuid.uuid4()),
                "results": [{"index": r.index, "relevance_score": r.score} for r in results],
                "meta": {"api_version": {"version": "2"},
                         "billed_units": {"search_units": _units(body.documents, settings)},
                         "tokens": {"input_tokens": sum(r.tokens for r in results)}}}

    @app.post("/rerank", summary="Text Embeddings Inference rerank")
    async def rerank_tei(body: TEIRequest) -> Any:
        if body.truncation_direction.lower() == "left":
            raise ApiError(422, "truncation_direction 'Left' is not supported; rerankit keeps "
                           "the start (Right) or scores windows (truncate=false)")
        _, results = await score(None, Job(body.query, body.texts, truncate=body.truncate))
        return [{"index": r.index, "score": r.raw_score if body.raw_scores else r.score,
                 **({"text": r.text} if body.return_text else {})} for r in results]

    @app.get("/health", summary="ready once every model is loaded")
    async def health() -> Any:
        if state["ready"]:
            return {"status": "ok", "models": list(state["schedulers"]), "pid": os.getpid(),
                    "threads": {name: getattr(scheduler.reranker, "threads", None)
                                for name, scheduler in state["schedulers"].items()},
                    "queued": {name: scheduler.depth
                               for name, scheduler in state["schedulers"].items()}}
        status = "loading" if state["error"] is None else f"failed: {state['error']}"
        return JSONResponse({"status": status}, status_code=503)

    @app.get("/v1/models", summary="the served models")
    async def list_models() -> Any:
        data = []
        for name, scheduler in state["schedulers"].items():
            reranker = scheduler.reranker
            data.append({"id": name, "object": "model", "owned_by": "rerankit",
                         "backend": reranker.spec.backend, "max_length": reranker.max_length})
        return {"object": "list", "data": data}

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Any:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.state.rerankit = state
    app.state.metrics = metrics
    return app


_ENDPOINTS = {"/v1/rerank", "/v2/rerank", "/rerank", "/health", "/v1/models", "/metrics"}


def _units(documents: list[Any], settings: ServerSettings) -> int:
    return max(1, math.ceil(len(documents) / settings.search_units_per))


def _materialise(source: ModelSource) -> Any:
    return source() if callable(source) else source


def _check_key(request: Any, settings: ServerSettings) -> None:
    if not settings.api_keys or request.url.path in ("/health", "/docs", "/openapi.json"):
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or token.strip() not in settings.api_keys:
        raise ApiError(401, "missing or invalid API key (Authorization: Bearer <key>)")


def _version() -> str:
    from rerankit import __version__

    return __version__

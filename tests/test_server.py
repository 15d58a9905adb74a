"""The rerank server against real peers: the official Cohere SDK, TEI- and Jina-shaped
HTTP calls, on uvicorn over loopback, with a real (tiny) cross-encoder."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from rerankit import RankedResult, Reranker  # noqa: E402
from rerankit.server import ServerSettings, create_app  # noqa: E402


class SlowFake:
    """A deterministic stand-in model for plumbing tests: score = -len(text), after
    ``delay`` seconds per call (never proof that reranking works)."""

    spec = SimpleNamespace(backend="fake")
    max_length = 512

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.delay, self.gate, self.calls = delay, gate, []
        self.started = threading.Event()  # set once a call has begun

    def rerank_many(self, queries, documents_per_query, **options):
        self.started.set()
        if self.gate is not None:
            self.gate.wait()
        time.sleep(self.delay)
        self.calls.append(len(queries))
        out = []
        for docs in documents_per_query:
            texts = [d if isinstance(d, str) else d.get("text", "") for d in docs]
            order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
            out.append([RankedResult(i, 1 / (1 + len(texts[i])), -float(len(texts[i])),
                                     docs[i], texts[i], rank=r, windows=1, tokens=3)
                        for r, i in enumerate(order)])
        return out


class Server:
    """uvicorn on a free loopback port, in a thread."""

    def __init__(self, app) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        for _ in range(300):
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("uvicorn did not start")

    def wait_ready(self) -> None:
        for _ in range(600):
            if httpx.get(self.url + "/health").status_code == 200:
                return
            time.sleep(0.05)
        raise RuntimeError("models did not load")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir):
    return Reranker(tiny_bert_dir)


@pytest.fixture(scope="module")
def served(tiny, tiny_bert2_dir):
    app = create_app({"tiny": tiny, "tiny2": lambda: Reranker(tiny_bert2_dir)},
                     ServerSettings(max_documents=50, batch_wait_ms=20))
    with Server(app) as server:
        server.wait_ready()
        yield server


@pytest.fixture(scope="module")
def docs(passages):
    return [p[:300] for p in passages[:8]]


def _expected(tiny, query, docs):
    return [(r.index, r.score) for r in tiny.rerank(query, docs)]


def test_cohere_sdk_v1_and_v2(served, tiny, docs):
    cohere = pytest.importorskip("cohere")
    query = "what is the boiling point of water"
    expected = _expected(tiny, query, docs)
    v1 = cohere.Client(api_key="unused", base_url=served.url).rerank(
        model="tiny", query=query, documents=docs, top_n=5, return_documents=True)
    assert [(r.index, round(r.relevance_score, 6)) for r in v1.results] == [
        (i, round(s, 6)) for i, s in expected[:5]]
    assert v1.results[0].document.text == docs[v1.results[0].index]
    assert v1.meta.api_version.version == "1" and v1.meta.billed_units.search_units == 1
    v2 = cohere.ClientV2(api_key="unused", base_url=served.url).rerank(
        model="tiny", query=query, documents=docs, top_n=3)
    assert [(r.index, round(r.relevance_score, 6)) for r in v2.results] == [
        (i, round(s, 6)) for i, s in expected[:3]]
    assert v2.meta.tokens.input_tokens > 0


def test_tei_format(served, tiny, docs):
    query = "thermometer inventor"
    response = httpx.post(served.url + "/rerank", json={
        "query": query, "texts": docs, "raw_scores": True, "return_text": True})
    assert response.status_code == 200
    body = response.json()
    raw = tiny.score(query, docs)
    assert [item["index"] for item in body] == list(np.argsort(-np.array(raw), kind="stable"))
    for item in body:
        assert item["score"] == pytest.approx(raw[item["index"]], abs=1e-6)
        assert item["text"] == docs[item["index"]]
    plain = httpx.post(served.url + "/rerank", json={"query": query, "texts": docs}).json()
    assert all(0 <= item["score"] <= 1 and "text" not in item for item in plain)
    left = httpx.post(served.url + "/rerank", json={
        "query": query, "texts": docs, "truncation_direction": "Left"})
    assert left.status_code == 422 and left.json()["error_type"] == "validation"


def test_jina_shape_with_objects_and_rank_fields(served, tiny, docs):
    objects = [{"title": f"doc {i}", "text": text} for i, text in enumerate(docs)]
    body = httpx.post(served.url + "/v1/rerank", json={
        "model": "tiny", "query": "temperature", "documents": objects,
        "return_documents": True, "rank_fields": ["title", "text"]}).json()
    assert body["usage"]["total_tokens"] > 0 and body["model"] == "tiny"
    expected = _expected(tiny, "temperature",
                         [f"title: doc {i}\ntext: {t}" for i, t in enumerate(docs)])
    assert [(r["index"], round(r["relevance_score"], 6)) for r in body["results"]] == [
        (i, round(s, 6)) for i, s in expected]
    assert body["results"][0]["document"] == objects[body["results"][0]["index"]]


def test_second_model_and_models_endpoint(served, tiny_bert2_dir, docs):
    listed = httpx.get(served.url + "/v1/models").json()["data"]
    assert [m["id"] for m in listed] == ["tiny", "tiny2"]
    body = httpx.post(served.url + "/v2/rerank", json={
        "model": "tiny2", "query": "q", "documents": docs}).json()
    expected = Reranker(tiny_bert2_dir).rerank("q", docs)
    assert [r["index"] for r in body["results"]] == [r.index for r in expected]


@pytest.mark.parametrize("path, payload, status", [
    ("/v2/rerank", {"model": "nope", "query": "q", "documents": ["a"]}, 404),
    ("/v2/rerank", {"model": "tiny", "query": "q", "documents": ["a"] * 51}, 413),
    ("/v2/rerank", {"model": "tiny", "query": "", "documents": ["a"]}, 400),
    ("/v2/rerank", {"model": "tiny", "query": "q", "documents": "a"}, 422),
    ("/v1/rerank", {"query": "q", "documents": [{"title": "x"}]}, 400),
    ("/v2/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, 422),
])
def test_errors_in_the_cohere_shape(served, path, payload, status):
    response = httpx.post(served.url + path, json=payload)
    assert response.status_code == status
    assert response.json()["message"]


def test_tei_errors_in_its_shape(served):
    response = httpx.post(served.url + "/rerank", json={"query": "q", "texts": [1, 2]})
    assert response.status_code == 422
    assert set(response.json()) == {"error", "error_type"}


def test_empty_documents_and_metrics(served):
    body = httpx.post(served.url + "/v2/rerank", json={"query": "q", "documents": []}).json()
    assert body["results"] == []
    metrics = httpx.get(served.url + "/metrics").text
    assert 'rerankit_requests_total{endpoint="/v2/rerank",status="200"}' in metrics
    assert "rerankit_tokens_scored_total" in metrics and "rerankit_queue_depth" in metrics


def test_concurrent_requests_share_batches(tiny, docs):
    fake = SlowFake(delay=0.05)
    app = create_app({"fake": fake}, ServerSettings(batch_wait_ms=30))
    with Server(app) as server:
        server.wait_ready()

        async def burst():
            async with httpx.AsyncClient(base_url=server.url) as client:
                return await asyncio.gather(*[
                    client.post("/v2/rerank", json={"query": f"q{i}", "documents": docs})
                    for i in range(8)])

        responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses)
    assert max(fake.calls) > 1  # several requests answered by one model call
    assert sum(fake.calls) == 8


def test_queue_full_answers_429_with_retry_after(docs):
    gate = threading.Event()
    app = create_app({"fake": SlowFake(gate=gate)}, ServerSettings(max_queue=1,
                                                                    batch_wait_ms=0))
    with Server(app) as server:
        server.wait_ready()

        async def flood():
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                tasks = [asyncio.create_task(client.post(
                    "/v2/rerank", json={"query": "q", "documents": docs})) for _ in range(6)]
                try:  # one is scoring (held at the gate), one queued: the rest are refused
                    await asyncio.wait(tasks, timeout=15, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    gate.set()
                return await asyncio.gather(*tasks)

        responses = asyncio.run(flood())
    codes = sorted(r.status_code for r in responses)
    assert 429 in codes and 200 in codes and all(c in (200, 429) for c in codes)
    limited = next(r for r in responses if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1 and limited.json()["message"]


def test_deadline_answers_504(docs):
    app = create_app({"fake": SlowFake(delay=1.0)}, ServerSettings(deadline_s=0.2))
    with Server(app) as server:
        server.wait_ready()
        response = httpx.post(server.url + "/v2/rerank", json={"query": "q", "documents": docs})
    assert response.status_code == 504


def test_health_waits_for_models_and_api_keys(docs):
    gate = threading.Event()

    def load():
        gate.wait()
        return SlowFake()

    app = create_app({"fake": load}, ServerSettings(api_keys=("secret",)))
    with Server(app) as server:
        assert httpx.get(server.url + "/health").status_code == 503
        loading = httpx.post(server.url + "/v2/rerank", json={"query": "q", "documents": docs},
                             headers={"Authorization": "Bearer secret"})
        assert loading.status_code == 503
        gate.set()
        server.wait_ready()
        anonymous = httpx.post(server.url + "/v2/rerank",
                               json={"query": "q", "documents": docs})
        assert anonymous.status_code == 401
        allowed = httpx.post(server.url + "/v2/rerank", json={"query": "q", "documents": docs},
                             headers={"Authorization": "Bearer secret"})
        assert allowed.status_code == 200
        assert httpx.get(server.url + "/health").json()["queued"] == {"fake": 0}


def test_body_size_limit(docs):
    app = create_app({"fake": SlowFake()}, ServerSettings(max_body_bytes=1000))
    with Server(app) as server:
        server.wait_ready()
        response = httpx.post(server.url + "/rerank",
                              json={"query": "q", "texts": ["x" * 2000]})
    assert response.status_code == 413 and response.json()["error_type"] == "validation"


def test_fuzzing_the_openapi_schema_finds_no_5xx(tiny):
    """Requests generated from the server's own OpenAPI schema (schemathesis, valid and
    invalid bodies) against a live server with a real model: never a 5xx answer."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    app = create_app({"tiny": tiny}, ServerSettings(max_documents=20))
    with Server(app) as server:
        server.wait_ready()
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/v1/rerank", "/v2/rerank", "/rerank"}
        seen: list[tuple[str, int]] = []
        runs = [(op, mode) for op, mode in itertools.product(
            operations, list(schemathesis.GenerationMode))
            if op.method.upper() == "POST" or mode == schemathesis.GenerationMode.POSITIVE]
        for operation, mode in runs:  # invalid bodies only where there is a body

            @given(case=operation.as_strategy(mode))
            @settings(max_examples=30, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case) -> None:
                response = case.call(timeout=60)
                seen.append((case.path, response.status_code))
                assert response.status_code < 500, (case.path, case.body, response.text[:300])

            check()
    assert len(seen) > 120
    assert any(code == 200 for _, code in seen) and any(code >= 400 for _, code in seen)


def test_serve_model_specs():
    from rerankit import InvalidInputError
    from rerankit._cli_serve import parse_model_specs

    assert parse_model_specs(["a", "rerank-v3.5=/models/x"]) == {
        "a": "a", "rerank-v3.5": "/models/x"}
    for bad in (["=x"], ["a=", "b"], ["a", "a"]):
        with pytest.raises(InvalidInputError):
            parse_model_specs(bad)


def test_shutdown_finishes_in_flight_requests(docs):
    fake = SlowFake(delay=1.0)
    app = create_app({"fake": fake})
    server = Server(app).__enter__()
    server.wait_ready()
    answers = []

    def call() -> None:
        answers.append(httpx.post(server.url + "/v2/rerank", timeout=30,
                                  json={"query": "q", "documents": docs}))

    caller = threading.Thread(target=call)
    caller.start()
    assert fake.started.wait(10)  # the request is being scored
    server.server.should_exit = True
    caller.join(10)
    server.thread.join(10)
    assert answers and answers[0].status_code == 200
    assert not server.thread.is_alive()


def test_serve_workers_split_the_cpus_and_share_a_score_cache(tiny_bert_dir, tmp_path,
                                                              passages):
    """`rerankit serve --workers 2`: each worker gets CPUs / 2 threads; scores land in the
    shared score cache and equal the in-process reranker's."""
    import os
    import subprocess
    import sys

    from rerankit._threads import available_cpus
    from rerankit.score_cache import ScoreCache

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "RERANKIT_NUM_THREADS"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rerankit.cli", "serve", "--model", f"tiny={tiny_bert_dir}",
         "--port", str(port), "--workers", "2", "--cache", str(tmp_path / "cache"),
         "--log-level", "warning"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                health = httpx.get(f"{url}/health", timeout=5)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.5)
        assert health.json()["threads"] == {"tiny": max(1, available_cpus() // 2)}
        body = {"model": "tiny", "query": "tides", "documents": passages[:5]}
        first = httpx.post(f"{url}/v1/rerank", json=body, timeout=60).json()
        again = httpx.post(f"{url}/v1/rerank", json=body, timeout=60).json()
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert first["results"] == again["results"]
    expected = Reranker(str(tiny_bert_dir)).rerank("tides", passages[:5])
    assert [r["index"] for r in first["results"]] == [r.index for r in expected]
    assert [r["relevance_score"] for r in first["results"]] == pytest.approx(
        [r.score for r in expected])
    assert ScoreCache(tmp_path / "cache").count() == 5

"""Hosted-reranker clients against our own server (Cohere v2, TEI and rerankit formats)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from rerankit import ModelLoadError, Reranker  # noqa: E402
from rerankit.server import ServerSettings, create_app  # noqa: E402
from test_server import Server, SlowFake  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir):
    return Reranker(tiny_bert_dir)


@pytest.fixture(scope="module")
def server(tiny):
    with Server(create_app({"tiny": tiny}, ServerSettings(max_documents=100))) as running:
        running.wait_ready()
        yield running


@pytest.fixture(scope="module")
def docs(passages):
    return [p[:250] for p in passages[:70]]


def _by_index(results):
    return {r.index: r.score for r in results}


@pytest.mark.parametrize("kind", ["rerankit", "tei", "cohere"])
def test_clients_match_the_local_model(kind, server, tiny, docs, monkeypatch):
    if kind == "cohere":
        monkeypatch.setenv("COHERE_BASE_URL", server.url)
        monkeypatch.setenv("COHERE_API_KEY", "unused")
        name = "cohere:tiny"
    elif kind == "tei":
        name = f"tei:{server.url}"
    else:
        name = f"rerankit:{server.url}?model=tiny"
    remote = Reranker(name)
    query = "who invented the thermometer"
    local = _by_index(tiny.rerank(query, docs))
    results = remote.rerank(query, docs, top_n=10)
    assert [r.index for r in results] == sorted(local, key=lambda i: (-local[i], i))[:10]
    for r in results:
        assert r.score == pytest.approx(local[r.index], abs=1e-6)
        assert r.document is docs[r.index]
    if kind == "tei":  # 70 documents went as 32 + 32 + 6 (TEI's batch limit)
        assert remote.backend.max_documents == 32


def test_duplicates_and_empty_lists(server, tiny, docs):
    remote = Reranker(f"rerankit:{server.url}")
    results = remote.rerank("q", [docs[0], docs[1], docs[0]])
    scores = _by_index(results)
    assert scores[0] == scores[2]
    assert remote.rerank("q", []) == []


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    with pytest.raises(ModelLoadError, match="COHERE_API_KEY"):
        Reranker("cohere:rerank-v3.5")


def test_bad_self_hosted_url():
    from rerankit import InvalidInputError

    with pytest.raises(InvalidInputError, match="http://host:port"):
        Reranker("tei:localhost")


def test_client_retries_through_429(docs):
    """An overloaded server answers 429 with Retry-After; the client waits and retries."""
    gate = threading.Event()
    app = create_app({"fake": SlowFake(gate=gate)}, ServerSettings(max_queue=1,
                                                                    batch_wait_ms=0))
    with Server(app) as running:
        running.wait_ready()
        remote = Reranker(f"rerankit:{running.url}")
        remote.backend.max_retries = 6

        async def flood():
            loop = asyncio.get_running_loop()
            tasks = [loop.run_in_executor(None, remote.rerank, f"q{i}", docs[:5])
                     for i in range(5)]
            try:
                # one call is scoring (held at the gate); wait until another fills the queue
                for _ in range(300):
                    if httpx.get(running.url + "/health").json()["queued"]["fake"] >= 1:
                        break
                    await asyncio.sleep(0.05)
                plain = httpx.post(running.url + "/v2/rerank", json={"query": "q",
                                                                      "documents": ["a"]})
            finally:
                gate.set()  # never leave the model (and the client threads) waiting
            return plain, await asyncio.gather(*tasks)

        plain, answers = asyncio.run(flood())
    assert plain.status_code == 429  # the server really was full
    assert all(len(a) == 5 for a in answers)  # yet every client call succeeded


def test_bench_runs_a_hosted_reranker(server, tiny_bert_dir, dl19, tmp_path):
    from rerankit.bench import BenchConfig, run_bench
    from rerankit.datasets import EvalDataset, Query
    from rerankit.retrieval._types import CorpusDocument

    qids = sorted(dl19["qrels"])[:4]
    judged = sorted({d for q in qids for d in list(dl19["qrels"][q])[:10]})
    corpus = [CorpusDocument(d, dl19["corpus"][d]) for d in judged]
    dataset = EvalDataset("slice", [Query(q, dl19["queries"][q]) for q in qids],
                          {q: dl19["qrels"][q] for q in qids}, corpus=corpus)
    remote = f"rerankit:{server.url}?model=tiny"
    settings = {"first_stages": ["bm25"], "depth": 10, "top_k": 5, "metrics": ["ndcg@5"],
                "progress": False, "resamples": 200}
    report = run_bench(dataset, BenchConfig(rerankers=[remote], cache_dir=None, **settings))
    local = run_bench(dataset, BenchConfig(rerankers=[str(tiny_bert_dir)], cache_dir=None,
                                           **settings))
    hosted = next(s for s in report["systems"] if s["reranker"] == remote)
    same = next(s for s in local["systems"] if s["reranker"] == str(tiny_bert_dir))
    assert hosted["status"] == "ok"
    assert np.isclose(hosted["metrics"]["ndcg@5"], same["metrics"]["ndcg@5"])

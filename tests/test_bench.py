"""The bench runner: sweeps, the score cache, failures, slices, the CLI and its reports."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from rerankit import InvalidInputError, Reranker
from rerankit.bench import BenchConfig, parse_slice, run_bench
from rerankit.datasets import Candidate, EvalDataset, Query
from rerankit.metrics import evaluate_per_query
from rerankit.retrieval import CorpusDocument

pytest.importorskip("torch")

DL19 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "msmarco-dl19-subset"


@pytest.fixture(scope="module")
def dataset(dl19):
    """Eight judged dl19 queries; a corpus of their judged passages plus 300 others."""
    rng = random.Random(0)
    qids = sorted(dl19["qrels"])[:8]
    judged = {d for q in qids for d in list(dl19["qrels"][q])[:15]}
    others = rng.sample(sorted(set(dl19["corpus"]) - judged), 300)
    corpus = [CorpusDocument(d, dl19["corpus"][d]) for d in sorted(judged) + others]
    queries = [Query(q, dl19["queries"][q], {"half": "a" if i < 4 else "b"})
               for i, q in enumerate(qids)]
    qrels = {q: {d: g for d, g in dl19["qrels"][q].items() if d in judged} for q in qids}
    return EvalDataset("dl19-slice", queries, qrels, corpus=corpus)


@pytest.fixture(scope="module")
def nan_model_dir(tmp_path_factory, tiny_bert_dir):
    """A cross-encoder whose head outputs NaN: it loads, then fails while scoring."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path_factory.mktemp("nan-model")
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir)
    with torch.no_grad():
        model.classifier.bias.fill_(float("nan"))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(out)
    return out


def _config(tmp_path, **overrides):
    settings = {"first_stages": ["bm25-english"], "depth": 10, "top_k": 5,
                "metrics": ["ndcg@5", "mrr@5"], "cache_dir": tmp_path / "cache",
                "progress": False, "resamples": 500, "slices": ["half"]}
    settings.update(overrides)
    return BenchConfig(**settings)


def _system(report, name):
    return next(s for s in report["systems"] if s["name"] == name)


def test_sweep_reranks_first_stage_candidates_and_scores_them(tmp_path, dataset, tiny_bert_dir):
    model = str(tiny_bert_dir)
    report = run_bench(dataset, _config(tmp_path, rerankers=[model]))
    baseline = _system(report, "bm25-english + none")
    reranked = _system(report, f"bm25-english + {model}")
    assert [s["name"] for s in report["systems"]] == [baseline["name"], reranked["name"]]
    from rerankit.retrieval import BM25Index

    index = BM25Index.build(dataset.corpus, tokenizer="english")
    reranker = Reranker(model)
    for query in dataset.queries:
        hits = index.search(query.text, 10)
        assert [d for d, _ in baseline["run"][query.id]] == [h.id for h in hits[:5]]
        expected = reranker.rerank(query.text, [h.text for h in hits])[:5]
        assert [d for d, _ in reranked["run"][query.id]] == [hits[r.index].id for r in expected]
    for system in (baseline, reranked):
        ranked = {q: [d for d, _ in docs] for q, docs in system["run"].items()}
        expected = evaluate_per_query(dataset.qrels, ranked, ["ndcg@5", "mrr@5"])
        assert system["per_query"] == expected
        low, high = system["ci"]["ndcg@5"]
        assert low <= system["metrics"]["ndcg@5"] <= high
        assert sum(v["count"] for v in system["slices"]["half"].values()) == 8
    assert reranked["model_calls"] == 80 and reranked["pairs_per_s"] > 0
    assert reranked["latency_ms"]["p95"] >= reranked["latency_ms"]["p50"] > 0
    assert reranked["vs_baseline"]["ndcg@5"]["label"] in ("better", "no evidence", "worse")
    assert baseline["vs_baseline"]["ndcg@5"]["label"] == "baseline"
    assert report["recommendation"]["accuracy_first"] in {baseline["name"], reranked["name"]}
    assert report["environment"]["cpus"] >= 1 and report["environment"]["torch_threads"] >= 1
    assert "randomization" in report["environment"]["statistics"]


def test_a_second_run_makes_no_model_calls(tmp_path, dataset, tiny_bert_dir):
    model = str(tiny_bert_dir)
    first = run_bench(dataset, _config(tmp_path, rerankers=[model]))
    # a new K and a new metric: still served from the cache
    second = run_bench(dataset, _config(tmp_path, rerankers=[model], top_k=3,
                                        metrics=["ndcg@3", "mrr@5", "hit@1"]))
    name = f"bm25-english + {model}"
    before, after = _system(first, name), _system(second, name)
    assert before["model_calls"] == 80 and before["cache_hits"] == 0
    assert after["model_calls"] == 0 and after["cache_hits"] == 80
    assert after["metrics"]["mrr@5"] == before["metrics"]["mrr@5"]
    assert [r[:3] for r in after["run"].values()] == [r[:3] for r in before["run"].values()]
    # latency, load time and memory are the ones measured when the model ran
    assert after["latency_ms"] == before["latency_ms"]
    assert after["load_s"] == before["load_s"]


def test_a_failing_reranker_does_not_stop_the_sweep(tmp_path, dataset, tiny_bert_dir,
                                                     nan_model_dir):
    missing = str(tmp_path / "no-such-model")
    report = run_bench(dataset, _config(tmp_path, rerankers=[missing, str(nan_model_dir),
                                                             str(tiny_bert_dir)]))
    status = {s["reranker"]: (s["status"], s["error"]) for s in report["systems"]}
    assert status[missing][0] == "failed" and "does not exist" in status[missing][1]
    assert status[str(nan_model_dir)][0] == "failed"
    assert "non-finite" in status[str(nan_model_dir)][1]
    assert status[str(tiny_bert_dir)] == ("ok", None)
    assert status["none"] == ("ok", None)


def test_calls_and_hits_are_counted_per_system(tmp_path, dataset, tiny_bert_dir):
    """Two first stages with the same candidates share one model: the second is served
    from the cache, and each system reports only its own calls and hits."""
    from rerankit.retrieval import BM25Index

    index = BM25Index.build(dataset.corpus, tokenizer="english")
    candidates = {q.id: [Candidate(h.id, h.text, h.score) for h in index.search(q.text, 10)]
                  for q in dataset.queries}
    both = EvalDataset("both", dataset.queries, dataset.qrels, corpus=dataset.corpus,
                       candidates=candidates)
    model = str(tiny_bert_dir)
    report = run_bench(both, _config(tmp_path, rerankers=[model],
                                     first_stages=["bm25-english", "given"]))
    first, second = [s for s in report["systems"] if s["reranker"] == model]
    assert (first["model_calls"], first["cache_hits"]) == (80, 0)
    assert (second["model_calls"], second["cache_hits"]) == (0, 80)


def test_fixed_candidates_and_a_broken_first_stage(tmp_path, dataset):
    candidates = {q.id: [Candidate(d.id, d.text, 1.0 / (i + 1))
                         for i, d in enumerate(dataset.corpus[:12])] for q in dataset.queries}
    fixed = EvalDataset("fixed", dataset.queries, dataset.qrels, candidates=candidates)
    report = run_bench(fixed, _config(tmp_path, first_stages=["given", "bm25"]))
    given = _system(report, "given + none")
    assert given["status"] == "ok"
    assert all([d for d, _ in run] == [c.id for c in candidates[q][:5]]
               for q, run in ((q, given["run"][q]) for q in given["run"]))
    assert _system(report, "bm25 + none")["status"] == "failed"  # no corpus to search


def test_slices():
    name, label = parse_slice("domain=id:_(\\w+)$")
    assert name == "domain" and label(Query("12_finance", "q")) == "finance"
    name, label = parse_slice("lang")
    assert label(Query("1", "q", {"lang": "ko"})) == "ko" and label(Query("2", "q")) is None


@pytest.mark.parametrize("overrides", [
    {"first_stages": ["bm42"]}, {"depth": 0}, {"metrics": ["ndcg@x"]},
    {"primary_metric": "map@10"}, {"alpha": 1.5}, {"slices": ["d=id:("]},
])
def test_bad_settings_are_refused_before_any_work(tmp_path, dataset, overrides):
    from rerankit import InvalidInputError

    with pytest.raises(InvalidInputError):
        run_bench(dataset, _config(tmp_path, **overrides))


def test_cli_bench_with_a_config_file_writes_the_reports(tmp_path, dl19, tiny_bert_dir):
    config = tmp_path / "bench.toml"
    config.write_text(
        f'data = "{DL19}"\nfirst_stages = ["bm25"]\nrerankers = ["{tiny_bert_dir}"]\n'
        'depth = 5\ntop_k = 5\nmetrics = ["ndcg@5", "mrr@5"]\nmax_queries = 4\n'
        f'cache_dir = "{tmp_path / "cache"}"\nout = "report"\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "rerankit.cli", "bench", "--config",
                           str(config), "--no-progress"], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    folder = tmp_path / "report"
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["dataset"]["queries"] == 4
    assert {s["reranker"] for s in report["systems"]} == {"none", str(tiny_bert_dir)}
    assert (folder / "report.html").is_file() and (folder / "report.md").is_file()
    assert b"report.html" in proc.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('depht = 5\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "rerankit.cli", "bench", "--config", str(bad),
                           "--data", str(DL19)], capture_output=True, check=False)
    assert proc.returncode == 2 and b"depht" in proc.stderr




def test_ray_engine_gives_the_same_numbers_as_local(tmp_path, dataset, tiny_bert_dir):
    ray = pytest.importorskip("ray")
    model = str(tiny_bert_dir)
    local = run_bench(dataset, _config(tmp_path, rerankers=[model], cache_dir=None))
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        remote = run_bench(dataset, _config(tmp_path, rerankers=[model], cache_dir=None,
                                            engine="ray", engine_options={"actors": 2}))
    finally:
        ray.shutdown()
    name = f"bm25-english + {model}"
    a, b = _system(local, name), _system(remote, name)
    assert b["status"] == "ok" and b["model_calls"] == a["model_calls"] == 80
    assert b["run"].keys() == a["run"].keys()
    for qid in a["run"]:
        assert [d for d, _ in b["run"][qid]] == [d for d, _ in a["run"][qid]]
        assert [s for _, s in b["run"][qid]] == pytest.approx([s for _, s in a["run"][qid]],
                                                               abs=1e-6)
    assert b["metrics"] == pytest.approx(a["metrics"])
    assert b["load_s"] > 0 and b["latency_ms"]["p50"] > 0


def test_cached_pairs_in_a_new_order_get_an_estimated_latency(tmp_path, tiny_bert_dir, passages):
    """The same candidates in another order (another first stage): served from the cache,
    latency estimated from the model's measured cost per pair."""
    from rerankit._bench_scoring import CachedReranker, LocalEngine
    from rerankit.score_cache import ScoreCache

    cache = ScoreCache(tmp_path / "cache")
    reranker = CachedReranker(str(tiny_bert_dir), {}, cache)
    texts = passages[:6]
    first = reranker.score_many([("a", "a query", texts)], LocalEngine())
    again = reranker.score_many([("b", "a query", texts[::-1])], LocalEngine())
    assert reranker.calls == 6 and reranker.hits == 6
    assert again["b"][0] == first["a"][0][::-1]
    assert again["b"][1] == pytest.approx(first["a"][1])  # 6 pairs at the measured cost


def _counting(reranker, monkeypatch) -> list[int]:
    seen: list[int] = []
    forward = reranker.backend.forward
    monkeypatch.setattr(reranker.backend, "forward",
                        lambda batch: seen.append(len(batch)) or forward(batch))
    return seen


def test_the_engine_reads_and_fills_the_score_cache(tmp_path, tiny_bert_dir, passages,
                                                    monkeypatch):
    docs = passages[:5]
    first = Reranker(tiny_bert_dir, cache=tmp_path / "cache")
    scored = _counting(first, monkeypatch)
    before = {r.index: r for r in first.rerank("boiling point", docs)}
    assert sum(scored) == 5
    again = Reranker(tiny_bert_dir, cache=tmp_path / "cache")
    seen = _counting(again, monkeypatch)
    after = {r.index: r for r in again.rerank("boiling point", docs + [passages[9]])}
    assert sum(seen) == 1  # only the new text reaches the model
    for i in range(5):
        assert after[i].raw_score == before[i].raw_score
        assert after[i].window is None and after[i].windows == 0
    assert after[5].windows >= 1
    # other settings that change scores use other keys
    other = Reranker(tiny_bert_dir, cache=tmp_path / "cache", max_length=32)
    seen_other = _counting(other, monkeypatch)
    other.rerank("boiling point", docs)
    assert sum(seen_other) >= 5
    with pytest.raises(InvalidInputError, match="cache"):
        Reranker(tiny_bert_dir, cache=3)


def test_bench_scores_serve_the_engine(tmp_path, dataset, tiny_bert_dir, monkeypatch):
    model = str(tiny_bert_dir)
    report = run_bench(dataset, _config(tmp_path, rerankers=[model]))
    run = _system(report, f"bm25-english + {model}")["run"]
    text = {d.id: d.full_text for d in dataset.corpus}
    engine = Reranker(model, cache=tmp_path / "cache")
    seen = _counting(engine, monkeypatch)
    for query in dataset.queries:
        ids = [doc_id for doc_id, _ in run[query.id]]
        results = engine.rerank(query.text, [text[d] for d in ids])
        bench_order = [doc_id for doc_id, _ in run[query.id]]
        assert [ids[r.index] for r in results] == bench_order
    assert seen == []  # every pair came from the bench's cache

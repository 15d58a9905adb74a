"""rerankit.metrics against hand-computed values, pytrec_eval (trec_eval) and ranx.

pytrec_eval ranks by score desc, then doc id desc, so it is compared on a run full of ties
with rerankit's default ``tie_break="docid-desc"``. ranx breaks ties with an unstable
quicksort, so it is compared on a run without ties. The default ranx test runs ranx's own
metric kernels with numba's JIT bypassed (``py_func``: same source, no 20 s compile); the
``slow`` test goes through ranx's full compiled pipeline (``Qrels``/``Run``/``evaluate``).
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from rerankit._exceptions import InvalidInputError
from rerankit.metrics import (
    VALID_METRICS,
    average_precision_at_k,
    evaluate,
    evaluate_per_query,
    hit_at_k,
    mrr_at_k,
    ndcg_at_k,
    parse_metric,
    precision_at_k,
    ranked,
    recall_at_k,
)

TOL = 1e-9
Qrels = dict[str, dict[str, int]]
RunDict = dict[str, dict[str, float]]


def make_data(seed: int, ties: bool) -> tuple[Qrels, RunDict]:
    """30 queries x 50 retrieved docs out of 80 per query, graded -1..3 labels.

    Doc ids are unpadded (``d7`` > ``d12`` lexically) so tie order differs from numeric order.
    Some queries have no relevant doc, some retrieve only 5 docs (fewer than k), some relevant
    docs are not retrieved, one qrels query is missing from the run and one run query is
    absent from qrels.
    """
    rng = np.random.default_rng(seed)
    qrels: Qrels = {}
    run: RunDict = {}
    for q in range(30):
        qid = f"q{q}"
        pool = [f"d{n}" for n in rng.permutation(80)]
        retrieved = pool[:5] if q % 10 == 5 else pool[:50]
        raw = rng.random(len(retrieved))
        scores = np.round(raw, 1) if ties else raw
        run[qid] = {doc: float(s) for doc, s in zip(retrieved, scores, strict=True)}
        judged = rng.choice(80, size=20, replace=False)
        grades = rng.choice([-1, 0, 0, 1, 2, 3], size=20)
        if q % 7 == 3:  # judged, but nothing relevant
            grades[:] = 0
        qrels[qid] = {pool[j]: int(g) for j, g in zip(judged, grades, strict=True)}
    qrels["q_unrun"] = {"d1": 2, "d2": 0}
    run["q_unjudged"] = {"d1": 0.5}
    return qrels, run


def evaluated_qids(qrels: Qrels) -> list[str]:
    return [q for q, g in qrels.items() if any(v > 0 for v in g.values())]


# ---------------------------------------------------------------------------- hand-computed


def test_mrr_relevant_at_rank_two() -> None:
    assert mrr_at_k(["a", "b", "c"], {"b"}, 10) == 0.5
    assert mrr_at_k(["a", "b", "c"], {"b"}, 1) == 0.0
    assert mrr_at_k(["a", "b", "c"], {"a": 0, "c": 1}, 3) == pytest.approx(1 / 3)
    assert hit_at_k(["a", "b", "c"], {"c"}, 2) == 0.0
    assert hit_at_k(["a", "b", "c"], {"c"}, 3) == 1.0


def test_recall_precision_ap_by_hand() -> None:
    ids = ["r1", "n1", "r2", "n2", "n3"]
    relevant = {"r1", "r2", "r3"}  # r3 is never retrieved
    assert recall_at_k(ids, relevant, 3) == pytest.approx(2 / 3)
    assert precision_at_k(ids, relevant, 2) == 0.5
    assert precision_at_k(ids, relevant, 10) == pytest.approx(2 / 10)  # divides by k
    # AP@k divides by all R = 3 relevant docs, not min(k, R).
    assert average_precision_at_k(ids, relevant, 5) == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert average_precision_at_k(ids, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ids, set(), 5) == 0.0
    assert average_precision_at_k(ids, set(), 5) == 0.0


def test_graded_ndcg_by_hand() -> None:
    ids = ["a", "b", "c", "d"]
    grades = {"a": 0, "b": 3, "c": 1, "d": -1, "e": 2}  # grade <= 0: gain 0
    dcg = 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ids, grades, 3) == pytest.approx(dcg / idcg, abs=1e-12)
    exp_dcg = 7 / math.log2(3) + 1 / math.log2(4)
    exp_idcg = 7 / math.log2(2) + 3 / math.log2(3) + 1 / math.log2(4)
    got = ndcg_at_k(ids, grades, 3, gain="exponential")
    assert got == pytest.approx(exp_dcg / exp_idcg, abs=1e-12)
    assert ndcg_at_k(ids, grades, 4) == pytest.approx(dcg / idcg, abs=1e-12)
    assert ndcg_at_k(["b", "e", "c"], grades, 3) == pytest.approx(1.0)
    assert ndcg_at_k(ids, {"a": 0}, 3) == 0.0  # IDCG = 0
    assert ndcg_at_k(["x", "a"], {"a"}, 2) == pytest.approx(1 / math.log2(3))  # set = grade 1


def test_ranked_tie_breaks() -> None:
    scores = {"b": 1.0, "a": 1.0, "c": 2.0, "B": 1.0, "z": -math.inf}
    assert ranked(scores) == ["c", "b", "a", "B", "z"]
    assert ranked(scores, tie_break="docid-desc") == ["c", "b", "a", "B", "z"]
    assert ranked(scores, tie_break="docid-asc") == ["c", "B", "a", "b", "z"]
    assert ranked(scores, tie_break="input") == ["c", "b", "a", "B", "z"]
    assert ranked({}) == []


def test_query_selection_and_metric_names() -> None:
    qrels = {"q1": {"a": 2, "b": 0}, "q2": {"x": 0}, "q3": {"m": 1}}
    run = {"q1": {"b": 0.9, "a": 0.8}, "q2": {"x": 1.0}, "q4": {"m": 1.0}}
    per_query = evaluate_per_query(qrels, run, ["MRR@10", " hit@1 ", "mrr@10"])
    assert per_query == {"mrr@10": {"q1": 0.5, "q3": 0.0}, "hit@1": {"q1": 0.0, "q3": 0.0}}
    assert evaluate(qrels, run, "mrr@10") == {"mrr@10": 0.25}
    # A ranked list per query gives the same result as the score dict.
    as_lists = {q: ranked(s) for q, s in run.items()}
    metrics = ["ndcg@2", "map@5", "p@1", "recall@1"]
    assert evaluate(qrels, as_lists, metrics) == evaluate(qrels, run, metrics)
    assert parse_metric("nDCG@010") == ("ndcg", 10)
    assert set(evaluate(qrels, run)) == {"ndcg@10", "mrr@10", "recall@100"}


# ---------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("name", ["ndcg", "ndcg@0", "ndcg@-1", "ndcg@1.5", "foo@3", "P10", ""])
def test_unknown_metric_lists_valid_ones(name: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        evaluate({"q": {"a": 1}}, {"q": {"a": 1.0}}, [name])
    assert all(valid in str(info.value) for valid in VALID_METRICS)


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "3", None])
def test_bad_k(k: object) -> None:
    with pytest.raises(InvalidInputError, match="k must be a positive int"):
        mrr_at_k(["a"], {"a"}, k)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        ndcg_at_k(["a"], {"a": 1}, k)  # type: ignore[arg-type]


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match=r"run\['q7'\]\['d3'\]: score is NaN"):
        evaluate({"q7": {"d3": 1}}, {"q7": {"d1": 1.0, "d3": float("nan")}})
    with pytest.raises(InvalidInputError, match="NaN"):
        ranked({"a": np.float32("nan")})
    with pytest.raises(InvalidInputError, match="score must be a number"):
        ranked({"a": "high"})  # type: ignore[dict-item]
    with pytest.raises(InvalidInputError, match="more than once"):
        recall_at_k(["a", "b", "a"], {"a"}, 3)
    with pytest.raises(InvalidInputError, match="more than once"):
        evaluate({"q": {"a": 1}}, {"q": ["a", "a"]})
    with pytest.raises(InvalidInputError, match="sequence of doc ids"):
        hit_at_k("abc", {"a"}, 3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="grade must be an int"):
        evaluate({"q": {"a": 1.5}}, {"q": {"a": 1.0}})  # type: ignore[dict-item]
    with pytest.raises(InvalidInputError, match="no query in qrels has a relevant doc"):
        evaluate({"q": {"a": 0}}, {"q": {"a": 1.0}})
    with pytest.raises(InvalidInputError, match="tie_break"):
        ranked({"a": 1.0}, tie_break="random")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="gain"):
        ndcg_at_k(["a"], {"a": 1}, 1, gain="cubic")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="no metric"):
        evaluate({"q": {"a": 1}}, {"q": {"a": 1.0}}, [])


def test_import_is_light() -> None:
    code = (
        "import sys, rerankit.metrics; "
        "bad = [m for m in ('torch', 'ranx', 'pytrec_eval', 'numba') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- pytrec_eval

PYTREC = {  # rerankit metric -> pytrec_eval measure on the full run
    "ndcg@10": "ndcg_cut_10",
    "recall@10": "recall_10",
    "recall@100": "recall_100",
    "p@10": "P_10",
    "map@10": "map_cut_10",
}


def test_against_pytrec_eval_with_ties() -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, run = make_data(seed=1, ties=True)
    qids = evaluated_qids(qrels)
    ours = evaluate_per_query(qrels, run, [*PYTREC, "mrr@10", "mrr@3", "hit@5"])
    means = evaluate(qrels, run, [*PYTREC, "mrr@10", "mrr@3", "hit@5"])

    ref = pytrec_eval.RelevanceEvaluator(qrels, set(PYTREC.values())).evaluate(run)
    # recip_rank has no cutoff: give it our top k, which trec_eval ranks the same way.
    rr = {
        k: pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(
            {q: {d: s[d] for d in ranked(s)[:k]} for q, s in run.items()}
        )
        for k in (3, 5, 10)
    }
    expected: dict[str, dict[str, float]] = {name: {} for name in ours}
    for qid in qids:  # a query missing from the run is absent from pytrec_eval's output
        for name, measure in PYTREC.items():
            expected[name][qid] = ref.get(qid, {}).get(measure, 0.0)
        for k in (3, 10):
            expected[f"mrr@{k}"][qid] = rr[k].get(qid, {}).get("recip_rank", 0.0)
        expected["hit@5"][qid] = float(rr[5].get(qid, {}).get("recip_rank", 0.0) > 0)
    for name in ours:
        assert list(ours[name]) == qids
        for qid in qids:
            assert ours[name][qid] == pytest.approx(expected[name][qid], abs=TOL), (name, qid)
        assert means[name] == pytest.approx(np.mean(list(expected[name].values())), abs=TOL)

    # The ties matter: another tie-break changes some values on this run.
    other = evaluate_per_query(qrels, run, ["mrr@10"], tie_break="docid-asc")
    assert other != {"mrr@10": ours["mrr@10"]}


# ---------------------------------------------------------------------------- ranx

RANX = {  # rerankit metric -> ranx metric
    "ndcg@10": "ndcg@10",
    "mrr@10": "mrr@10",
    "recall@100": "recall@100",
    "hit@5": "hit_rate@5",
    "p@10": "precision@10",
    "map@10": "map@10",
}


@pytest.fixture(scope="module")
def ranx_kernels() -> Iterator[Callable[..., dict[str, np.ndarray]]]:
    """ranx.evaluate on per-query arrays, its numba kernels run as plain Python (py_func)."""
    ranx = pytest.importorskip("ranx")
    with pytest.MonkeyPatch.context() as mp:
        for name, module in list(sys.modules.items()):
            if name.startswith("ranx.metrics."):
                for attr, value in list(vars(module).items()):
                    if callable(getattr(value, "py_func", None)):
                        mp.setattr(module, attr, value.py_func)
        yield ranx.evaluate


def ranx_arrays(qrels: Qrels, run: RunDict, qids: list[str]) -> tuple[list, list]:
    """ranx's internal layout: per query an (n, 2) array [doc number, value], sorted by value."""
    numbers: dict[str, float] = {}

    def table(values: dict[str, float]) -> np.ndarray:
        rows = sorted(values.items(), key=lambda item: -item[1])
        out = np.array([[numbers.setdefault(d, len(numbers)), v] for d, v in rows], float)
        return out.reshape(-1, 2)

    return [table(qrels[q]) for q in qids], [table(run.get(q, {})) for q in qids]


def test_against_ranx_without_ties(ranx_kernels: Callable[..., dict[str, np.ndarray]]) -> None:
    qrels, run = make_data(seed=2, ties=False)
    assert all(len(set(s.values())) == len(s) for s in run.values())
    qids = evaluated_qids(qrels)
    q_arrays, r_arrays = ranx_arrays(qrels, run, qids)
    ref = ranx_kernels(q_arrays, r_arrays, [*RANX.values(), "ndcg_burges@10"], return_mean=False)
    ours = evaluate_per_query(qrels, run, list(RANX))
    ours["ndcg@10 exp"] = evaluate_per_query(qrels, run, ["ndcg@10"], gain="exponential")["ndcg@10"]
    means = evaluate(qrels, run, list(RANX))
    for name, ranx_name in [*RANX.items(), ("ndcg@10 exp", "ndcg_burges@10")]:
        got = [ours[name][q] for q in qids]
        np.testing.assert_allclose(got, ref[ranx_name], rtol=0, atol=TOL, err_msg=name)
        if name in means:
            assert means[name] == pytest.approx(float(np.mean(ref[ranx_name])), abs=TOL)


@pytest.mark.slow
def test_against_ranx_full_pipeline() -> None:
    """ranx's own Qrels/Run/evaluate, compiled (first run compiles numba kernels: ~20-60 s)."""
    ranx = pytest.importorskip("ranx")
    qrels, run = make_data(seed=3, ties=False)
    qids = evaluated_qids(qrels)
    r_qrels = ranx.Qrels.from_dict({q: qrels[q] for q in qids})
    r_run = ranx.Run.from_dict(run)
    ranx.evaluate(r_qrels, r_run, list(RANX.values()), make_comparable=True)
    ours = evaluate_per_query(qrels, run, list(RANX))
    for name, ranx_name in RANX.items():
        for qid in qids:
            expected = float(r_run.scores[ranx_name][qid])
            assert ours[name][qid] == pytest.approx(expected, abs=TOL), (name, qid)

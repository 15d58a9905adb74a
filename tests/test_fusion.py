"""Fusion math against values computed by hand from the formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rerankit import InvalidInputError
from rerankit.retrieval.fusion import normalize, reciprocal_rank_fusion, weighted_score_fusion


def test_rrf_matches_hand_computed_scores():
    fused = dict(reciprocal_rank_fusion({"bm25": ["a", "b", "c"], "dense": ["b", "d"]}, k=60))
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63)
    assert fused["d"] == pytest.approx(1 / 62)


def test_rrf_order_and_weights():
    rankings = {"bm25": ["a", "b"], "dense": ["b", "a"]}
    # equal weights: a and b tie; the tie keeps first-appearance order
    assert [d for d, _ in reciprocal_rank_fusion(rankings)] == ["a", "b"]
    weighted = reciprocal_rank_fusion(rankings, k=1, weights={"bm25": 0.3, "dense": 0.7})
    assert [d for d, _ in weighted] == ["b", "a"]
    assert dict(weighted)["b"] == pytest.approx(0.3 / 3 + 0.7 / 2)


def test_rrf_k_changes_score_spread():
    small = dict(reciprocal_rank_fusion({"x": ["a", "b"]}, k=0))
    assert small["a"] == 1.0 and small["b"] == 0.5


def test_minmax_and_zscore_normalisation():
    values = [2.0, 4.0, 8.0]
    assert normalize(values, "minmax").tolist() == pytest.approx([0.0, 1 / 3, 1.0])
    mean = 14 / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)
    assert normalize(values, "zscore").tolist() == pytest.approx([(v - mean) / std
                                                                  for v in values])
    assert normalize([5.0, 5.0], "minmax").tolist() == [1.0, 1.0]
    assert normalize([5.0, 5.0], "zscore").tolist() == [0.0, 0.0]
    assert normalize([], "minmax").size == 0


def test_weighted_fusion_hand_computed():
    scores = {"bm25": {"a": 10.0, "b": 5.0, "c": 0.0}, "dense": {"a": 0.2, "b": 0.8, "c": 0.5}}
    fused = dict(weighted_score_fusion(scores, weights={"bm25": 0.7, "dense": 0.3}))
    # minmax: bm25 a=1, b=0.5, c=0; dense a=0, b=1, c=0.5
    assert fused["a"] == pytest.approx(0.7)
    assert fused["b"] == pytest.approx(0.35 + 0.3)
    assert fused["c"] == pytest.approx(0.15)


def test_weighted_fusion_missing_id_gets_the_lists_floor():
    scores = {"bm25": {"a": 3.0, "b": 1.0}, "dense": {"c": 0.9, "a": 0.1}}
    fused = dict(weighted_score_fusion(scores, normalization="zscore"))
    z_b = float(normalize([3.0, 1.0], "zscore")[1])
    z_dense = normalize([0.9, 0.1], "zscore")
    assert fused["c"] == pytest.approx(z_b + z_dense[0])  # c missing from bm25 -> bm25 floor
    assert fused["b"] == pytest.approx(z_b + float(np.min(z_dense)))


@pytest.mark.parametrize("call", [
    lambda: reciprocal_rank_fusion({"a": ["x"]}, k=-1),
    lambda: reciprocal_rank_fusion({"a": ["x", "x"]}),
    lambda: reciprocal_rank_fusion({"a": ["x"]}, weights={"b": 1.0}),
    lambda: reciprocal_rank_fusion({"a": ["x"]}, weights={"a": 0.0}),
    lambda: reciprocal_rank_fusion({"a": ["x"]}, weights={"a": float("nan")}),
    lambda: normalize([1.0, float("nan")]),
    lambda: normalize([1.0], "softmax"),
])
def test_bad_fusion_input_is_refused(call):
    with pytest.raises(InvalidInputError):
        call()

"""Keyword boosting: exact terms, word boundaries, Korean particles, ranking effect."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit import InvalidInputError, KeywordBoost, Reranker


def test_boost_values_follow_the_documented_formula():
    boost = KeywordBoost({"KB-Star": 0.3, "mortgage": 0.1}, required=["loan"],
                         missing_penalty=0.5)
    texts = ["The KB-STAR mortgage loan", "mortgage only", "a loan", "kb-star loan"]
    np.testing.assert_allclose(boost(texts), [0.4, 0.1 - 0.5, 0.0, 0.3])


def test_latin_terms_need_word_boundaries_korean_terms_do_not():
    boost = KeywordBoost(["AI", "신한은행"], weight=1.0)
    np.testing.assert_allclose(boost(["he said", "AI-based", "신한은행의 대출", "ａｉ tools"]),
                               [0.0, 1.0, 1.0, 1.0])  # fullwidth ａｉ is NFKC "ai"


@pytest.mark.parametrize("kwargs", [{"terms": "AI"}, {"terms": [""]}, {"weight": float("nan")},
                                    {"terms": {"x": "high"}}, {"required": [3]}])
def test_bad_boosts(kwargs):
    with pytest.raises(InvalidInputError):
        KeywordBoost(**kwargs)


def test_boost_reorders_results_but_keeps_calibrated_scores(tiny_bert_dir, passages):
    reranker = Reranker(tiny_bert_dir)
    docs = [p[:200] for p in passages[:6]]
    plain = reranker.rerank("thermometer", docs)
    last = plain[-1]
    others = " ".join(d for i, d in enumerate(docs) if i != last.index).casefold()
    marked = next(w for w in docs[last.index].split()
                  if w.isalpha() and len(w) > 3 and w.casefold() not in others)
    boost = KeywordBoost({marked: 2.0})
    boosted = reranker.rerank("thermometer", docs, boost=boost)
    assert boosted[0].index == last.index and boosted[0].boost == 2.0
    by_index = {r.index: r for r in plain}
    for result in boosted:
        assert result.score == by_index[result.index].score  # calibrated score unchanged
        assert result.boost == pytest.approx(boost([docs[result.index]])[0])
    ranking = [r.score + r.boost for r in boosted]
    assert ranking == sorted(ranking, reverse=True)
    # min_score still filters on the calibrated score, not the boosted one
    kept = reranker.rerank("thermometer", docs, boost=boost, min_score=last.score + 1e-9)
    assert last.index not in {r.index for r in kept} and len(kept) == len(docs) - 1
    with pytest.raises(InvalidInputError, match="KeywordBoost"):
        reranker.rerank("q", docs, boost={"x": 1})


def test_boost_set_on_the_reranker(tiny_bert_dir, passages):
    boost = KeywordBoost(required=["celsius"])
    reranker = Reranker(tiny_bert_dir, boost=boost)
    docs = ["degrees celsius and kelvin", passages[0][:150], "celsius scale"]
    results = reranker.rerank("temperature", docs)
    assert {r.index for r in results[:2]} == {0, 2}  # both required-term documents first
    assert results[-1].boost == -1.0

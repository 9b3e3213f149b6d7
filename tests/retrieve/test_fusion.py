import pytest

from ragship.retrieve.fusion import reciprocal_rank_fusion


def test_weighted_rrf_matches_the_formula():
    scores = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], [1.0, 0.5], k=60)
    assert scores["a"] == pytest.approx(1 / 61 + 0.5 / 62)
    assert scores["b"] == pytest.approx(1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 0.5 / 61)
    assert sorted(scores, key=scores.get, reverse=True) == ["a", "c", "b"]


def test_zero_weight_ignores_a_ranking():
    scores = reciprocal_rank_fusion([["a", "b"], ["b", "x"]], [1.0, 0.0])
    assert sorted(scores, key=scores.get, reverse=True)[:2] == ["a", "b"] and scores["x"] == 0

"""Rank fusion: pure functions over ranked id lists."""

from __future__ import annotations


def reciprocal_rank_fusion(rankings: list[list[str]], weights: list[float], k: int = 60) -> dict[str, float]:
    """Weighted RRF (Cormack, Clarke & Büttcher, SIGIR 2009): score(d) = Σ_i w_i / (k + rank_i(d)), ranks from 1."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores

"""Rank fusion: pure functions over ranked id lists."""

from __future__ import annotations


def reciprocal_rank_fusion(rankings: list[list[str]], weights: list[float], k: int = 60) -> dict[str, float]:
    """Weighted RRF (Cormack, Clarke & Büttcher, SIGIR 2009): score(d) = Σ_i w_i / (k + rank_i(d)), ranks from 1."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores


def min_max(scores: dict[str, float]) -> dict[str, float]:
    """Scale one retriever's scores to [0, 1] (all equal → 1)."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    return {k: (v - lo) / (hi - lo) if hi > lo else 1.0 for k, v in scores.items()}


def convex_combination(score_lists: list[dict[str, float]], weights: list[float]) -> dict[str, float]:
    """Σ_i w_i · minmax_i(d), missing = 0: the normalised linear fusion of Bruch, Gai & Ingber (TOIS 2023),
    which they found more accurate than RRF once the weight is tuned."""
    total = sum(weights) or 1.0
    fused: dict[str, float] = {}
    for scores, weight in zip(score_lists, weights):
        for item, value in min_max(scores).items():
            fused[item] = fused.get(item, 0.0) + weight / total * value
    return fused

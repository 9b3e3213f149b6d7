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


def maximal_marginal_relevance(relevance: list[float], vectors, k: int, lam: float) -> list[int]:
    """MMR (Carbonell & Goldstein, SIGIR 1998): greedily pick argmax λ·rel(d) − (1−λ)·max_{s∈picked} cos(d, s).
    `relevance` is min-max scaled first so λ weighs like against like; vectors are unit length. Returns the
    chosen indices in pick order."""
    import numpy as np

    rel = np.asarray(relevance, dtype=np.float64)
    if not len(rel):
        return []
    rel = (rel - rel.min()) / (rel.max() - rel.min()) if rel.max() > rel.min() else np.ones_like(rel)
    sims = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    picked: list[int] = []
    nearest = np.full(len(rel), -np.inf)  # max similarity to anything picked so far
    for _ in range(min(k, len(rel))):
        score = lam * rel - (1 - lam) * np.where(np.isinf(nearest), 0.0, nearest)
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        nearest = np.maximum(nearest, sims[best])
    return picked

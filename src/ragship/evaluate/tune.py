"""`ragship tune`: search fusion settings on a dataset's training split and keep the best.

Each judged query's dense and BM25 candidates are retrieved once (timed, as in serving); every fusion setting is
then scored offline on those candidates, so a grid of dozens of settings costs one pass over the queries.
Latency of a setting = the query's dense + BM25 retrieval time (+ fusion time measured per setting).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragship.evaluate.beir import load_dataset
from ragship.evaluate.metrics import doc_run, retrieval_metrics
from ragship.evaluate.runner import EVAL_DEPTH, percentile
from ragship.retrieve.search import fused_rows
from ragship.settings import SearchSettings, write_settings

RRF_KS = (5, 10, 20, 40, 60, 100)
WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # dense weight; BM25 weight 1


@dataclass
class Trial:
    name: str
    settings: dict[str, Any]  # the [search] keys to write
    ndcg: float
    recall100: float
    p95_ms: float
    pareto: bool = False


def candidate_settings() -> list[tuple[str, dict[str, Any]]]:
    grid = [("bm25", {"mode": "bm25"}), ("dense", {"mode": "dense"})]
    grid += [(f"rrf k={k} w={w}", {"mode": "hybrid", "fusion": "rrf", "rrf_k": k, "dense_weight": w,
                                   "bm25_weight": 1.0}) for k, w in itertools.product(RRF_KS, WEIGHTS)]
    grid += [(f"convex w={w}", {"mode": "hybrid", "fusion": "convex", "dense_weight": w, "bm25_weight": 1.0})
             for w in WEIGHTS]
    return grid


def tune(engine, dataset_dir: Path, split: str = "train", observe=None) -> list[Trial]:
    dataset = load_dataset(dataset_dir, split)
    engine.ingest([dataset.corpus], observe=observe)
    searcher = engine.searcher()
    depth = max(EVAL_DEPTH * 3, engine.settings.search.candidates)
    candidates = {}
    searcher.search(next(iter(dataset.queries.values())), "bm25", 1)  # warm-up
    for qid, text in dataset.queries.items():
        timings: dict[str, float] = {}
        dense = searcher.dense_rows(text, depth, timings)
        lexical = searcher.bm25_rows(text, depth, timings)
        candidates[qid] = (dense, lexical, timings)
        if observe:
            observe("queries", 1, total=len(dataset.queries))
    trials = [_score(name, conf, candidates, dataset.qrels, engine.settings.search)
              for name, conf in candidate_settings()]
    _mark_pareto(trials)
    return sorted(trials, key=lambda t: -t.ndcg)


def _score(name, conf, candidates, qrels, base: SearchSettings) -> Trial:
    settings = base.model_copy(update=conf)
    run, latencies = {}, []
    for qid, (dense, lexical, timings) in candidates.items():
        t = time.perf_counter()
        if settings.mode == "dense":
            rows, spent = dense, timings["embed"] + timings["dense"]
        elif settings.mode == "bm25":
            rows, spent = lexical, timings["bm25"]
        else:
            rows = fused_rows(settings, dense, lexical)
            spent = timings["embed"] + timings["dense"] + timings["bm25"]
        run[qid] = doc_run(rows, EVAL_DEPTH)
        latencies.append(spent + (time.perf_counter() - t) * 1000)
    m = retrieval_metrics(run, qrels)
    return Trial(name, conf, round(m["ndcg@10"], 4), round(m["recall@100"], 4), round(percentile(latencies, 95), 2))


def _mark_pareto(trials: list[Trial]) -> None:
    """A trial is on the front when no other is at least as good on both nDCG@10 and p95 and better on one."""
    for t in trials:
        t.pareto = not any(o.ndcg >= t.ndcg and o.p95_ms <= t.p95_ms and (o.ndcg > t.ndcg or o.p95_ms < t.p95_ms)
                           for o in trials)


def write_search_settings(path: Path, chosen: dict[str, Any]) -> None:
    """Set the chosen [search] keys in ragship.toml, keeping every other line of the file as it was."""
    write_settings(path, "search", chosen)

"""`ragship tune`: search BM25 analysis and fusion settings on a dataset's training split and keep the best.

Each judged query's dense candidates are retrieved once, and its BM25 candidates once per BM25 variant (stemming
and stop words on or off: the full-text index is rebuilt on the table's head, scratch space no query sees, then
the head is reset to the live version); every fusion setting is then scored offline on those candidates, so a
grid of hundreds of settings costs one pass over the queries per variant. Latency of a setting = the query's
dense + BM25 retrieval time (+ fusion time measured per setting). Title weighting is not a knob: a chunk's title
is part of its indexed text once; LanceDB's BM25 exposes no k1/b (ADR 0009).

Other chunk sizes (`chunkings`) are tried on scratch indexes with the configured BM25 analysis.

The choice: the best nDCG@10, except that a BM25 analysis or chunking other than the configured one (which costs
a rebuild) must beat the best setting that keeps both by more than SIGNIFICANCE standard errors of their
per-query difference; on SciFact a train-split gain of 0.002 from dropping stop words was a loss on test.
"""

from __future__ import annotations

import itertools
import math
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ragship.evaluate.beir import Dataset, load_dataset
from ragship.evaluate.metrics import doc_run, per_query, retrieval_metrics
from ragship.evaluate.runner import EVAL_DEPTH, Searchable
from ragship.home import Home
from ragship.index import ChunkStore, VersionRegistry
from ragship.ingest.pipeline import DEFAULT_FTS
from ragship.retrieve.search import fused_rows
from ragship.settings import SearchSettings, Settings
from ragship.util.stats import percentile

RRF_KS = (5, 10, 20, 40, 60, 100)
WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # dense weight; BM25 weight 1
SIGNIFICANCE = 2.0  # standard errors a new BM25 analysis must win by
BM25_VARIANTS = tuple({"bm25_stem": stem, "bm25_stop_words": stop} for stem in (True, False) for stop in (True, False))

Candidates = dict[str, tuple[list[dict], float]]  # query id -> (rows, retrieval ms)


class Tunable(Searchable, Protocol):
    """What `tune` uses of a collection."""

    home: Home
    registry: VersionRegistry

    def store(self) -> ChunkStore: ...

    def sibling(self, settings: Settings) -> Tunable: ...


@dataclass
class Trial:
    name: str
    settings: dict[str, Any]  # the [search] keys to write
    ndcg: float
    recall100: float
    p95_ms: float
    pareto: bool = False
    chunk: dict[str, int] = field(default_factory=dict)  # [chunk] keys to write; empty = the configured chunking


@dataclass
class Tuned:
    trials: list[Trial]  # best nDCG@10 first
    chosen: Trial
    why: str
    per_query: dict[str, list[float]] = field(default_factory=dict, repr=False)  # trial name -> nDCG@10 per query


def variant_label(v: dict[str, bool]) -> str:
    return "+".join(k for k, on in (("stem", v["bm25_stem"]), ("stop", v["bm25_stop_words"])) if on) or "plain"


def candidate_settings(variants=BM25_VARIANTS) -> list[tuple[str, dict[str, Any]]]:
    grid: list[tuple[str, dict[str, Any]]] = [("dense", {"mode": "dense"})]
    for v in variants:
        b = f"bm25 {variant_label(v)}"
        grid += [(b, {"mode": "bm25", **v})]
        grid += [(f"rrf k={k} w={w}, {b}", {"mode": "hybrid", "fusion": "rrf", "rrf_k": k, "dense_weight": w,
                                           "bm25_weight": 1.0, **v}) for k, w in itertools.product(RRF_KS, WEIGHTS)]
        grid += [(f"convex w={w}, {b}", {"mode": "hybrid", "fusion": "convex", "dense_weight": w, "bm25_weight": 1.0,
                                        **v}) for w in WEIGHTS]
    return grid


def tune(engine: Tunable, dataset_dir: Path, split: str = "train", observe=None, variants=BM25_VARIANTS,
         chunkings: tuple[tuple[int, int], ...] = ()) -> Tuned:
    """`chunkings`: other (tokens, overlap) to try besides the configured one, each ingested into a scratch home
    (HOME/tune/, removed afterwards) with the configured BM25 analysis; their chunks are embedded once (cached)."""
    dataset = load_dataset(dataset_dir, split)
    current = (engine.settings.chunk.tokens, engine.settings.chunk.overlap)
    others = [c for c in dict.fromkeys(chunkings) if c != current]
    configured = {k: getattr(engine.settings.search, k) for k in BM25_VARIANTS[0]}
    total = len(dataset.queries) * (1 + len(variants) + 2 * len(others))

    def tick() -> None:
        if observe:
            observe("queries", 1, total=total)

    engine.release(engine.ingest([dataset.corpus_file], observe=observe))
    scored = _trials(engine, dataset, variants, tick)
    for tokens, overlap in others:
        with _scratch(engine, tokens, overlap) as other:
            other.release(other.ingest([dataset.corpus], observe=observe))
            chunk = {"tokens": tokens, "overlap": overlap}
            scored += [(replace(t, name=f"chunks {tokens}/{overlap}, {t.name}", chunk=chunk), q)
                       for t, q in _trials(other, dataset, (configured,), tick)]
    trials = sorted((t for t, _ in scored), key=lambda t: -t.ndcg)
    _mark_pareto(trials)
    per_query = {t.name: q for t, q in scored}
    chosen, why = choose(trials, per_query, configured)
    return Tuned(trials, chosen, why, per_query)


def fusion(engine: Tunable, queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> Tuned:
    """The fusion settings for `engine`'s version on labeled questions of its own documents (no ingest): every
    mode and fusion setting with the configured BM25 analysis. The configured setting is kept unless the best
    beats it by SIGNIFICANCE standard errors: labels from production come from questions the live system already
    answered well (on SciFact, weights tuned on them lost 0.010 nDCG@10 on test; ADR 0021)."""
    search = engine.settings.search
    configured = {k: getattr(search, k) for k in BM25_VARIANTS[0]}
    dataset = Dataset("labels", Path("."), None, "train", queries, qrels)
    scored = _trials(engine, dataset, (configured,), lambda: None)
    trials = sorted((t for t, _ in scored), key=lambda t: -t.ndcg)
    per_query = {t.name: q for t, q in scored}
    best = trials[0]
    current = next((t for t in trials if all(getattr(search, k) == v for k, v in t.settings.items())), best)
    mean, se = paired(per_query[best.name], per_query[current.name])
    if current is best or mean > SIGNIFICANCE * se:
        return Tuned(trials, best, "best nDCG@10" + (f"; it wins by {mean:+.4f} ({mean / se:.1f} standard errors)"
                                                     if current is not best else ""), per_query)
    return Tuned(trials, current, f"{best.name} scored {mean:+.4f}, within {SIGNIFICANCE:g} standard errors (each "
                 f"{se:.4f}): the configured fusion is kept", per_query)


def paired(a: list[float], b: list[float]) -> tuple[float, float]:
    """The mean of the per-query differences a − b and its standard error (infinite with fewer than two)."""
    diff = [x - y for x, y in zip(a, b)]
    mean = sum(diff) / len(diff)
    se = math.sqrt(sum((d - mean) ** 2 for d in diff) / (len(diff) - 1) / len(diff)) if len(diff) > 1 else math.inf
    return mean, se


def _trials(engine: Tunable, dataset, variants, tick) -> list[tuple[Trial, list[float]]]:
    """Every fusion setting × BM25 variant scored on one index, with per-query nDCG@10."""
    searcher = engine.searcher()
    depth = max(EVAL_DEPTH * 3, engine.settings.search.candidates)
    searcher.search(next(iter(dataset.queries.values())), "bm25", 1)  # warm-up
    dense: Candidates = {}
    for qid, text in dataset.queries.items():
        timings: dict[str, float] = {}
        dense[qid] = (searcher.dense_rows(text, depth, timings), timings["embed"] + timings["dense"])
        tick()
    lexical = {variant_label(v): bm25_candidates(engine, v, dataset.queries, depth, tick) for v in variants}
    return [_score(name, conf, dense, lexical, dataset.qrels, engine.settings.search)
            for name, conf in candidate_settings(variants)]


@contextmanager
def _scratch(engine: Tunable, tokens: int, overlap: int):
    """A collection on a throwaway home with other chunking, sharing the model and the embedding cache."""
    home = engine.home.scratch / f"chunks-{tokens}-{overlap}"
    shutil.rmtree(home, ignore_errors=True)
    chunk = engine.settings.chunk.model_copy(update={"tokens": tokens, "overlap": overlap})
    settings = engine.settings.model_copy(update={"home": home, "cache_dir": engine.home.cache_dir, "chunk": chunk})
    try:
        yield engine.sibling(settings)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def choose(trials: list[Trial], per_query: dict[str, list[float]], configured: dict[str, bool]) -> tuple[Trial, str]:
    """The best trial, unless it changes the BM25 analysis or the chunking (a rebuild) without a significant gain
    over the best that keeps both (paired per-query nDCG@10 difference, SIGNIFICANCE standard errors)."""
    best = trials[0]
    keeps = next(t for t in trials
                 if not t.chunk and all(t.settings.get(k, v) == v for k, v in configured.items()))
    if keeps is best:
        return best, "best nDCG@10"
    mean, se = paired(per_query[best.name], per_query[keeps.name])
    if mean > SIGNIFICANCE * se:
        return best, f"best nDCG@10; it wins by {mean:.4f} ({mean / se:.1f} standard errors) over {keeps.name}"
    return keeps, (f"{best.name} scored {mean:+.4f}, within {SIGNIFICANCE:g} standard errors (each {se:.4f}): "
                   f"the configured BM25 analysis and chunking are kept")


def bm25_candidates(engine: Tunable, variant: dict[str, bool], queries: dict[str, str], depth: int,
                    tick=lambda: None) -> Candidates:
    """BM25 rows of every query with the variant's full-text index: the live one when it was built so, else one
    rebuilt on the head under the ingest lock (the head is reset to the live version afterwards)."""
    live = engine.registry.serving()
    built = live.params.get("fts", DEFAULT_FTS)
    wanted = engine.settings.search.model_copy(update=variant).fts_params()
    if built == wanted:
        return _timed_bm25(engine.searcher().view, queries, depth, tick)
    # rebuilt on the table head under the writer lock (scratch space no query opens), the head reset afterwards
    with engine.home.exclusive(), engine.store().trial_fts(live.lance_version, wanted) as view:
        return _timed_bm25(view, queries, depth, tick)


def _timed_bm25(view, queries: dict[str, str], depth: int, tick) -> Candidates:
    view.bm25(next(iter(queries.values())), 1)  # warm-up: the index's first read
    out: Candidates = {}
    for qid, text in queries.items():
        t = time.perf_counter()
        out[qid] = (view.bm25(text, depth), (time.perf_counter() - t) * 1000)
        tick()
    return out


def _score(name, conf, dense: Candidates, lexical: dict[str, Candidates], qrels,
           base: SearchSettings) -> tuple[Trial, list[float]]:
    settings = base.model_copy(update=conf)
    bm25 = lexical[variant_label(conf)] if "bm25_stem" in conf else {}
    run, latencies = {}, []
    for qid, (dense_rows, dense_ms) in dense.items():
        t = time.perf_counter()
        if settings.mode == "dense":
            rows, spent = dense_rows, dense_ms
        elif settings.mode == "bm25":
            rows, spent = bm25[qid]
        else:
            rows = fused_rows(settings, dense_rows, bm25[qid][0])
            spent = dense_ms + bm25[qid][1]
        run[qid] = doc_run(rows, EVAL_DEPTH)
        latencies.append(spent + (time.perf_counter() - t) * 1000)
    judged = per_query(run, qrels)
    m = retrieval_metrics(run, qrels, judged)
    trial = Trial(name, conf, round(m["ndcg@10"], 4), round(m["recall@100"], 4), round(percentile(latencies, 95), 2))
    return trial, [j["ndcg@10"] for j in judged.values()]


def _mark_pareto(trials: list[Trial]) -> None:
    """A trial is on the front when no other is at least as good on both nDCG@10 and p95 and better on one."""
    for t in trials:
        t.pareto = not any(o.ndcg >= t.ndcg and o.p95_ms <= t.p95_ms and (o.ndcg > t.ndcg or o.p95_ms < t.p95_ms)
                           for o in trials)


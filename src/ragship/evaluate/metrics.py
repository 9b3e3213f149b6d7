"""Retrieval metrics from pytrec_eval (the trec_eval implementation), never hand-rolled."""

from __future__ import annotations

from typing import Iterable

import pytrec_eval

from ragship.types import Hit

Run = dict[str, dict[str, float]]  # query id -> {doc id: score}
MEASURES = {"ndcg@10": "ndcg_cut_10", "recall@5": "recall_5", "recall@10": "recall_10", "recall@100": "recall_100"}


def doc_run(ranked: Iterable[Hit | dict], depth: int) -> dict[str, float]:
    """Document-level run from ranked chunk hits (or rows with a doc_id): a document scores as its best chunk;
    ranks become strictly decreasing scores so trec_eval's tie-breaking (by doc id) cannot reorder them."""
    docs: list[str] = []
    for h in ranked:
        doc_id = h["doc_id"] if isinstance(h, dict) else h.doc_id
        if doc_id not in docs:
            docs.append(doc_id)
            if len(docs) == depth:
                break
    return {d: float(len(docs) - i) for i, d in enumerate(docs)}


def per_query(run: Run, qrels: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    """nDCG@10 and Recall@5/10/100 of every judged query (missing runs score 0)."""
    full = {q: run.get(q, {}) for q in qrels}
    scores = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.5,10,100"}).evaluate(full)
    return {q: {name: scores.get(q, {}).get(key, 0.0) for name, key in MEASURES.items()} for q in qrels}


def retrieval_metrics(run: Run, qrels: dict[str, dict[str, int]],
                      judged: dict[str, dict[str, float]] | None = None) -> dict[str, float]:
    """nDCG@10, Recall@5/10/100 and MRR@10, averaged over every judged query (missing runs score 0). `judged`:
    per_query(run, qrels), when the caller already has it."""
    judged = judged or per_query(run, qrels)
    top10 = {q: dict(sorted(run.get(q, {}).items(), key=lambda kv: -kv[1])[:10]) for q in qrels}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    n = len(qrels)
    means = {name: sum(judged[q][name] for q in qrels) / n for name in MEASURES}
    return {**means, "mrr@10": sum(rr.get(q, {}).get("recip_rank", 0.0) for q in qrels) / n}

"""Retrieval metrics from pytrec_eval (the trec_eval implementation), never hand-rolled."""

from __future__ import annotations

from typing import Iterable

import pytrec_eval

from ragship.types import Hit

Run = dict[str, dict[str, float]]  # query id -> {doc id: score}


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


def ndcg10_per_query(run: Run, qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """nDCG@10 of every judged query (missing runs score 0): for paired comparisons of two settings."""
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate({q: run.get(q, {}) for q in qrels})
    return {q: per_query.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels}


def retrieval_metrics(run: Run, qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """nDCG@10, Recall@5/10/100 and MRR@10, averaged over every judged query (missing runs score 0)."""
    full = {q: run.get(q, {}) for q in qrels}
    top10 = {q: dict(sorted(r.items(), key=lambda kv: -kv[1])[:10]) for q, r in full.items()}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.5,10,100"}).evaluate(full)
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    n = len(qrels)

    def mean(results, key):
        return sum(results.get(q, {}).get(key, 0.0) for q in qrels) / n

    return {
        "ndcg@10": mean(per_query, "ndcg_cut_10"),
        "recall@5": mean(per_query, "recall_5"),
        "recall@10": mean(per_query, "recall_10"),
        "recall@100": mean(per_query, "recall_100"),
        "mrr@10": mean(rr, "recip_rank"),
    }

import pytest

from ragship.evaluate.metrics import doc_run, retrieval_metrics
from ragship.util.stats import percentile
from ragship.types import Hit


def hit(doc, rank):
    return Hit(f"{doc}#{rank}", doc, "", "", "", 0, 1, (), 1.0 / rank, rank)


def test_chunks_collapse_to_documents_in_rank_order():
    run = doc_run([hit("a", 1), hit("b", 2), hit("a", 3), hit("c", 4)], depth=10)
    assert sorted(run, key=run.get, reverse=True) == ["a", "b", "c"]
    assert list(doc_run([hit("a", 1), hit("b", 2), hit("c", 3)], depth=2)) == ["a", "b"]


def test_metrics_on_hand_checked_runs():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1, "d3": 1}}
    run = {"q1": {"x": 3.0, "d1": 2.0}, "q2": {"d2": 2.0}}
    m = retrieval_metrics(run, qrels)
    # q1: relevant at rank 2 -> nDCG 1/log2(3), RR 1/2. q2: one of two relevant at rank 1 -> nDCG 1/(1+1/log2 3)
    ndcg_q2 = 1 / (1 + 1 / 1.584962500721156)
    assert m["ndcg@10"] == pytest.approx((1 / 1.584962500721156 + ndcg_q2) / 2, abs=1e-4)
    assert m["mrr@10"] == pytest.approx((0.5 + 1) / 2)
    assert m["recall@10"] == pytest.approx((1 + 0.5) / 2)


def test_unanswered_queries_count_as_zero():
    m = retrieval_metrics({}, {"q1": {"d1": 1}})
    assert m == {"ndcg@10": 0.0, "recall@5": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}


def test_mrr_is_cut_at_ten():
    run = {"q": {f"x{i}": 100.0 - i for i in range(10)} | {"d": 1.0}}
    assert retrieval_metrics(run, {"q": {"d": 1}})["mrr@10"] == 0.0


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([5], 95) == 5 and percentile([], 50) == 0

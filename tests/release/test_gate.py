"""The gate's decision on per-query figures: a loss beyond the tolerance that noise does not explain."""

import numpy as np
import pytest

from ragship.release.gate import GateReport, compare

TOL = {"ndcg@10": 0.005, "p95_ms": 0.2}


def per_query(values):
    return {f"q{i}": float(v) for i, v in enumerate(values)}


def sides(live, candidate, latency_live=None, latency_candidate=None):
    a = {"ndcg@10": per_query(live), "latency_ms": per_query(latency_live if latency_live is not None else
                                                               np.full(len(live), 10.0))}
    b = {"ndcg@10": per_query(candidate), "latency_ms": per_query(latency_candidate if latency_candidate is not None
                                                                  else np.full(len(live), 10.0))}
    return a, b


def test_a_consistent_loss_is_a_regression():
    rng = np.random.default_rng(0)
    live = rng.uniform(0.3, 1.0, 200)
    checks = {c.metric: c for c in compare(*sides(live, live - 0.05 + rng.normal(0, 0.02, 200)), TOL, 0.05)}
    assert checks["ndcg@10"].regressed and checks["ndcg@10"].p_value < 0.001
    assert not GateReport("v2", "v1", "g", list(checks.values())).passed


def test_noise_around_no_change_passes():
    rng = np.random.default_rng(1)
    live = rng.uniform(0.3, 1.0, 200)
    check = compare(*sides(live, live + rng.normal(0, 0.1, 200)), TOL, 0.05)[0]
    assert check.metric == "ndcg@10" and not check.regressed


def test_a_small_mean_loss_within_noise_passes_though_the_mean_fell():
    live = np.array([1.0, 0.0] * 20)
    candidate = np.array([0.0, 1.0] * 19 + [0.0, 0.0])  # mean 0.025 lower, per-query swings of ±1
    check = compare(*sides(live, candidate), TOL, 0.05)[0]
    assert check.change < -TOL["ndcg@10"] and not check.regressed


def test_latency_regresses_only_beyond_the_tolerance():
    rng = np.random.default_rng(2)
    base = rng.uniform(8, 12, 300)
    slow = {c.metric: c for c in compare(*sides(np.ones(300), np.ones(300), base, base * 1.5), TOL, 0.05)}
    same = {c.metric: c for c in compare(*sides(np.ones(300), np.ones(300), base, base * 1.05), TOL, 0.05)}
    assert slow["p95_ms"].regressed and not same["p95_ms"].regressed and not slow["ndcg@10"].regressed


def test_the_report_has_the_table():
    report = GateReport("v2", "v1", "scifact (train)", compare(*sides(np.ones(5), np.zeros(5)), TOL, 0.05))
    text = report.markdown()
    assert "refused" in text and "| ndcg@10 | 1.0000 | 0.0000 | -1.0000 |" in text and "REGRESSED" in text


def test_a_live_version_calibrated_elsewhere_is_counted_at_the_candidates_operating_point():
    from ragship.release.measure import at_operating_point
    from ragship.types import AbstainTarget

    # live answers every answerable question and half the unanswerable ones at its own threshold
    live = {"answer_rate": per_query([1] * 10), "abstain_rate": {"u0": 1.0, "u1": 0.0},
            "confidence": per_query(np.linspace(0.55, 1.0, 10)) | {"u0": 0.2, "u1": 0.7}}
    moved, threshold = at_operating_point(live, AbstainTarget("answer", 0.9))
    assert threshold == pytest.approx(0.6)  # the highest answering 9 of the 10
    assert sum(moved["answer_rate"].values()) == 9 and moved["abstain_rate"] == {"u0": 1.0, "u1": 0.0}
    report = GateReport("v2", "v1", "g", compare(live, moved, {"answer_rate": 0.01}, 0.05),
                        operating_point="fitted for answer >= 0.9")
    assert "operating point: fitted for answer >= 0.9" in report.markdown()
    assert GateReport.from_dict(report.to_dict()).operating_point == report.operating_point

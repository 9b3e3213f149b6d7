"""Drift: the MMD permutation test finds a shift and keeps quiet without one; the report carries the business
metrics that moved and the topics of the struggling queries; the reference follows its policy."""

import numpy as np
from sqlalchemy import text

from ragship.monitor.drift import Drift, mmd_test
from ragship.monitor.querylog import Observation, QueryLog
from ragship.settings import MonitorSettings
from ragship.state import State


def unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def topic_vectors(rng, centre, n, spread=0.6):
    return unit(centre + spread * rng.normal(size=(n, centre.size)) / np.sqrt(centre.size))


def test_mmd_finds_a_shift_and_not_noise():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=384), rng.normal(size=384)
    same = [mmd_test(topic_vectors(rng, a, 100), topic_vectors(rng, a, 40), 500, seed=i)[1] for i in range(20)]
    assert sum(p < 0.01 for p in same) <= 1
    mixed = np.vstack([topic_vectors(rng, a, 25), topic_vectors(rng, b, 15)])
    assert mmd_test(topic_vectors(rng, a, 100), mixed, 500)[1] < 0.01


def log_queries(log, vectors, outcome, confidence, prefix):
    for i, v in enumerate(vectors):
        log.record(Observation("k", "default", "ask", 10.0, f"{prefix} {i}", outcome, version="v1", hits=5,
                               top_score=0.6 if outcome == "answered" else 0.3, margin=0.1, confidence=confidence,
                               vector=v))


def test_report_ties_the_drift_to_the_business_metrics_and_names_the_topics(tmp_path):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=384), rng.normal(size=384)
    log = QueryLog(State(None, tmp_path), "keep")
    settings = MonitorSettings(reference=60, recent=40, permutations=500, min_requests=5)
    drift = Drift(log, "default", settings)
    log_queries(log, topic_vectors(rng, a, 60), "answered", 0.9, "science")
    assert drift.report()["status"].startswith("collecting recent queries: 0 of 40")
    log_queries(log, topic_vectors(rng, a, 20), "answered", 0.9, "science")
    log_queries(log, topic_vectors(rng, b, 20), "abstained", 0.2, "trivia")
    report = drift.report()
    assert report["status"] == "measured" and report["query"]["p_value"] < 0.01
    assert report["scores"]["recent_mean"] < report["scores"]["reference_mean"] and report["scores"]["p_value"] < 0.01
    assert "abstain_rate" in report["moved"] and report["business"]["recent"]["abstain_rate"] == 0.5
    top = report["topics"][0]
    assert top["new_subject"] and top["size"] == 20 and all(q.startswith("trivia") for q in top["examples"])


def test_the_reference_resets_after_a_release_and_on_demand(tmp_path):
    log = QueryLog(State(None, tmp_path))
    drift = Drift(log, "default", MonitorSettings())
    drift.apply_policy("v1", 86400)
    assert drift.reference()["since"] == 0.0 and drift.reference()["version"] == "v1"
    drift.apply_policy("v1", 86400)
    assert drift.reference()["since"] == 0.0  # same release: kept
    drift.apply_policy("v2", 86400)
    assert drift.reference()["since"] > 0 and drift.reference()["reason"] == "release v2 (was v1)"
    assert drift.reset("audience changed on purpose")["reason"] == "audience changed on purpose"
    log.write(text("UPDATE ragship_drift_reference SET set_at = set_at - 100"))
    drift.apply_policy("v2", 50)
    assert drift.reference()["reason"].startswith("the reference was older")

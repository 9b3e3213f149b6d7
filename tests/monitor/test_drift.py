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


def test_the_reference_follows_its_policy(tmp_path):
    log = QueryLog(State(None, tmp_path))
    drift = Drift(log, "default", MonitorSettings())
    drift.apply_policy("v1", 86400, changed_retrieval=False, drifting=False)
    assert drift.reference()["since"] == 0.0 and drift.reference()["version"] == "v1"
    drift.apply_policy("v2", 86400, changed_retrieval=False, drifting=False)  # documents added: same window
    assert drift.reference()["since"] == 0.0 and drift.reference()["version"] == "v2"
    held = drift.apply_policy("v3", 86400, changed_retrieval=True, drifting=True)  # a new model, while drifting
    assert "held back" in held and drift.reference()["since"] == 0.0
    assert drift.apply_policy("v3", 86400, changed_retrieval=True, drifting=False) is None
    assert drift.reference()["since"] > 0 and drift.reference()["reason"] == "release v3 changed retrieval (was v2)"
    assert drift.reset("audience changed on purpose")["reason"] == "audience changed on purpose"
    log.state.write(text("UPDATE ragship_drift_reference SET set_at = set_at - 100"))
    assert "held back" in drift.apply_policy("v3", 50, changed_retrieval=False, drifting=True)
    drift.apply_policy("v3", 50, changed_retrieval=False, drifting=False)
    assert drift.reference()["reason"].startswith("the reference was older")


def test_drift_alerts_stay_firing_through_an_upload_until_the_traffic_returns(tmp_path, cache_dir):
    """Issue 30 item 2: with QueryDrift and ScoreDrift firing, one routine upload made a version, reset the
    reference and resolved both alerts, and the off-topic traffic became the new reference."""
    from conftest import DATA, make_engine
    from ragship.monitor.schedule import Monitor

    engine = make_engine(tmp_path / "home", cache_dir,
                         monitor={"reference": 60, "recent": 40, "permutations": 2000, "min_requests": 5})
    engine.ingest([DATA / "teams"])
    log = QueryLog(engine.state, "keep")
    monitor = Monitor(log, lambda: {"default": engine}, tmp_path / "monitor.lock")
    rng = np.random.default_rng(3)
    usual, other = rng.normal(size=384), rng.normal(size=384)

    def traffic(centre, n, outcome, prefix):
        for i, v in enumerate(topic_vectors(rng, centre, n)):
            log.record(Observation("k", "default", "ask", 10.0, f"{prefix} {i}", outcome,
                                   version=engine.registry.live().id, hits=5,
                                   top_score=0.6 if outcome == "answered" else 0.3, margin=0.1,
                                   confidence=0.9 if outcome == "answered" else 0.2, vector=v))

    def states():
        return {s["name"]: s["state"] for s in monitor.alert_states() if s["name"] in ("QueryDrift", "ScoreDrift")}

    monitor.tick()  # sets the reference on the live version
    traffic(usual, 60, "answered", "usual")
    traffic(other, 40, "abstained", "off-topic")
    fired = monitor.tick()["events"]
    assert {e["alert"] for e in fired if e["event"] == "fired"} >= {"QueryDrift", "ScoreDrift"}
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "memo.md").write_text("# Memo\n\nThe canteen opens at eight.\n")
    before = engine.registry.live().id
    engine.ingest([tmp_path / "new"])  # a routine upload: a new version, retrieval unchanged
    assert engine.registry.live().id != before
    traffic(other, 20, "abstained", "still off-topic")
    for _ in range(2):
        assert not [e for e in monitor.tick()["events"] if e["event"] == "resolved"]
        assert states() == {"QueryDrift": "firing", "ScoreDrift": "firing"}
    assert monitor.drift("default", engine).reference()["since"] == 0.0  # the drifting window was not adopted
    traffic(usual, 40, "answered", "back to usual")
    resolved = monitor.tick()["events"]
    assert {e["alert"] for e in resolved if e["event"] == "resolved"} == {"QueryDrift", "ScoreDrift"}
    assert all(e["value"] is not None for e in resolved)


def test_reading_the_drift_report_and_the_signals_writes_nothing(tmp_path, cache_dir):
    """Issue 32: GET /v1/monitor/drift and /signals could move the drift reference (Monitor.drift applied the
    reference policy); a read reads, and the policy runs in the monitor round."""
    from sqlalchemy import select

    from conftest import DATA, make_engine
    from ragship.monitor.schedule import Monitor
    from ragship.state.tables import DRIFT_REFERENCE

    engine = make_engine(tmp_path / "home", cache_dir, monitor={"reference_max_age": "1m"})
    engine.ingest([DATA / "docs"])
    log = QueryLog(engine.state, "keep")
    monitor = Monitor(log, lambda: {"default": engine}, tmp_path / "monitor.lock")
    Drift(log, "default", engine.settings.monitor).reset("set by hand", "v1")
    log.state.write(text("UPDATE ragship_drift_reference SET set_at = set_at - 3600"))  # past reference_max_age

    def stored():
        return log.state.rows(select(DRIFT_REFERENCE))

    before = stored()
    monitor.drift("default", engine).report()
    monitor.signals("default", engine)
    assert stored() == before

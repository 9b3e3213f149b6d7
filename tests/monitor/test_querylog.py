"""The query log: every field recorded, the query text as the privacy policy allows, old logs migrated in place,
several processes writing at once, retention."""

import multiprocessing
import sqlite3
import time

import numpy as np
import pytest

from ragship.monitor.querylog import Observation, QueryLog
from ragship.monitor.windows import business


def observation(question="where is the harbour?", outcome="answered", **fields):
    vector = np.random.default_rng(0).normal(size=384).astype(np.float32)
    return Observation("k1", "default", "ask", 12.5, question, outcome, version="v3", mode="hybrid", hits=5,
                       top_score=0.71, margin=0.12, confidence=0.8, stages={"embed": 3.2}, vector=vector, **fields)


def test_a_request_is_recorded_with_what_monitoring_needs(tmp_path):
    log = QueryLog(tmp_path / "m.sqlite", "keep")
    rid = log.record(observation())
    row = log.query("SELECT key_id, version, outcome, hits, top_score, margin, confidence, stages, question "
                    "FROM requests WHERE id = ?", (rid,))[0]
    assert row == ("k1", "v3", "answered", 5, 0.71, 0.12, 0.8, '{"embed": 3.2}', "where is the harbour?")
    vectors, rows = log.vectors("default", 0)
    assert vectors.shape == (1, 384) and rows[0]["question"] == "where is the harbour?"
    assert np.allclose(vectors[0], observation().vector, atol=1e-2)  # float16 sketch


@pytest.mark.parametrize("policy, kept", [
    ("keep", "mail jo@example.org about card 4111 1111 1111 1111"),
    ("redact", "mail [EMAIL] about card [CARD]"),
])
def test_query_text_follows_the_privacy_policy(tmp_path, policy, kept):
    log = QueryLog(tmp_path / "m.sqlite", policy)
    log.record(observation("mail jo@example.org about card 4111 1111 1111 1111"))
    assert log.query("SELECT question FROM requests")[0][0] == kept


def test_hash_policy_keeps_no_text_but_equal_queries_stay_equal(tmp_path):
    log = QueryLog(tmp_path / "m.sqlite", "hash")
    log.record(observation("my account 12345678 is locked"))
    log.record(observation("my account 12345678 is locked"))
    kept = [r[0] for r in log.query("SELECT question FROM requests")]
    assert kept[0] == kept[1] and kept[0].startswith("sha256:") and "12345678" not in kept[0]


def test_a_version_1_log_is_migrated_keeping_its_rows(tmp_path):
    path = tmp_path / "m.sqlite"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE requests (id TEXT PRIMARY KEY, ts REAL NOT NULL, key_id TEXT NOT NULL, "
                      "collection TEXT NOT NULL, kind TEXT NOT NULL, latency_ms REAL NOT NULL, abstained INTEGER, "
                      "confidence REAL, question TEXT);"
                      "INSERT INTO requests VALUES ('a', 1.0, 'k', 'default', 'ask', 5.0, 0, 0.9, 'q');")
    old.commit()
    old.close()
    log = QueryLog(path)
    assert log.query("SELECT id, question, outcome FROM requests") == [("a", "q", None)]
    log.record(observation())
    assert log.query("PRAGMA user_version")[0][0] == 2 and len(log.query("SELECT id FROM requests")) == 2


def _write(path, n):
    log = QueryLog(path)
    for i in range(n):
        log.record(observation(f"q{i}"))


def test_several_processes_write_at_once(tmp_path):
    path = tmp_path / "m.sqlite"
    QueryLog(path)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write, args=(path, 150)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert QueryLog(path).query("SELECT COUNT(*) FROM requests")[0][0] == 450


def test_retention_deletes_old_rows_and_feedback(tmp_path):
    log = QueryLog(tmp_path / "m.sqlite")
    rid = log.record(observation())
    log.feedback(rid, "k1", 1, "")
    log.execute("UPDATE requests SET ts = ?", (time.time() - 40 * 86400,))
    log.record(observation("recent"))
    assert log.prune(30) == 1 and log.query("SELECT COUNT(*) FROM requests")[0][0] == 1
    log.execute("UPDATE feedback SET ts = ?", (time.time() - 40 * 86400,))
    assert log.prune(30) == 1


def test_business_metrics_over_a_window(tmp_path):
    log = QueryLog(tmp_path / "m.sqlite")
    ids = [log.record(observation(outcome="answered")) for _ in range(6)]
    ids += [log.record(observation(outcome="abstained")) for _ in range(3)]
    log.record(observation(outcome="no_result"))
    log.record(observation(outcome="answered", unverified=2))
    log.record(Observation("k1", "default", "ask", 3.0, "boom", "error"))
    for i, rid in enumerate(ids[:5]):
        log.feedback(rid, "k1", 1 if i < 4 else -1, "")
    m = business(log, "default", time.time() - 60, min_requests=5)
    assert m["requests"] == 12 and m["answer_rate"] == round(7 / 11, 4) and m["abstain_rate"] == round(3 / 11, 4)
    assert m["no_result_rate"] == round(1 / 11, 4) and m["citation_failure_rate"] == round(1 / 7, 4)
    assert m["positive_feedback_rate"] == 0.8 and m["error_rate"] == round(1 / 12, 4) and m["p95_ms"] == 12.5
    assert business(log, "default", time.time() - 60, min_requests=50)["answer_rate"] is None  # too few

"""The query log, on both state stores: every field recorded, the query text as the privacy policy allows, a
home's older monitor.sqlite imported keeping its rows, several processes writing at once, retention."""

import json
import multiprocessing
import sqlite3
import time
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import text

from ragship.errors import NotFound, QueryError, RequestTimeout
from ragship.monitor.querylog import Observation, QueryLog
from ragship.monitor.windows import business
from ragship.state import State


def observation(question="where is the harbour?", outcome="answered", **fields):
    vector = np.random.default_rng(0).normal(size=384).astype(np.float32)
    return Observation("k1", "default", "ask", 12.5, question, outcome, version="v3", mode="hybrid", hits=5,
                       top_score=0.71, margin=0.12, confidence=0.8, stages={"embed": 3.2}, vector=vector, **fields)


def test_a_request_is_recorded_with_what_monitoring_needs(state):
    log = QueryLog(state, "keep")
    rid = log.record(observation())
    row = log.state.rows(text("SELECT key_id, version, outcome, hits, top_score, margin, confidence, stages, question "
                        "FROM ragship_requests WHERE id = :id").bindparams(id=rid))[0]
    assert row == ("k1", "v3", "answered", 5, 0.71, 0.12, 0.8, '{"embed": 3.2}', "where is the harbour?")
    vectors, rows = log.vectors("default", 0)
    assert vectors.shape == (1, 384) and rows[0]["question"] == "where is the harbour?"
    assert np.allclose(vectors[0], observation().vector, atol=1e-2)  # float16 sketch


@pytest.mark.parametrize("policy, kept", [
    ("keep", "mail jo@example.org about card 4111 1111 1111 1111"),
    ("redact", "mail [EMAIL] about card [CARD]"),
])
def test_query_text_follows_the_privacy_policy(tmp_path, policy, kept):
    log = QueryLog(State(None, tmp_path), policy)
    log.record(observation("mail jo@example.org about card 4111 1111 1111 1111"))
    assert log.state.rows(text("SELECT question FROM ragship_requests"))[0][0] == kept


def test_hash_policy_keeps_no_text_but_equal_queries_stay_equal(tmp_path):
    log = QueryLog(State(None, tmp_path), "hash")
    log.record(observation("my account 12345678 is locked"))
    log.record(observation("my account 12345678 is locked"))
    kept = [r[0] for r in log.state.rows(text("SELECT question FROM ragship_requests"))]
    assert kept[0] == kept[1] and kept[0].startswith("sha256:") and "12345678" not in kept[0]


def test_a_homes_older_query_log_is_imported_once_keeping_its_rows(state):
    path = state.home / "monitor.sqlite"  # a version-1 log, from before the state store
    state.home.mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE requests (id TEXT PRIMARY KEY, ts REAL NOT NULL, key_id TEXT NOT NULL, "
                      "collection TEXT NOT NULL, kind TEXT NOT NULL, latency_ms REAL NOT NULL, abstained INTEGER, "
                      "confidence REAL, question TEXT);"
                      "INSERT INTO requests VALUES ('a', 1.0, 'k', 'default', 'ask', 5.0, 0, 0.9, 'q');"
                      "CREATE TABLE feedback (answer_id TEXT NOT NULL, ts REAL NOT NULL, key_id TEXT NOT NULL, "
                      "rating INTEGER NOT NULL, comment TEXT);"
                      "INSERT INTO feedback VALUES ('a', 2.0, 'k', 1, 'good');")
    old.commit()
    old.close()
    log = QueryLog(state)
    assert log.state.rows(text("SELECT id, question, outcome FROM ragship_requests")) == [("a", "q", None)]
    assert log.state.rows(text("SELECT answer_id, rating, comment FROM ragship_feedback")) == [("a", 1, "good")]
    assert not path.exists() and (state.home / "monitor.sqlite.imported").exists()  # kept, renamed
    log.record(observation())
    again = QueryLog(State(state.url if not state.sqlite else None, state.home))
    assert len(again.state.rows(text("SELECT id FROM ragship_requests"))) == 2  # imported once


def _write(url, home, n):
    log = QueryLog(State(url, home))
    for i in range(n):
        log.record(observation(f"q{i}"))


def test_several_processes_write_at_once(state):
    url = None if state.sqlite else state.url
    QueryLog(state).state.rows(text("SELECT 1"))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write, args=(url, state.home, 150)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert QueryLog(state).state.rows(text("SELECT COUNT(*) FROM ragship_requests"))[0][0] == 450


def test_retention_deletes_old_rows_and_feedback(tmp_path):
    log = QueryLog(State(None, tmp_path))
    rid = log.record(observation())
    log.feedback(rid, "k1", 1, "")
    old = {"ts": time.time() - 40 * 86400}
    log.state.write(text("UPDATE ragship_requests SET ts = :ts"), old)
    log.record(observation("recent"))
    assert log.prune(30) == 1 and log.state.rows(text("SELECT COUNT(*) FROM ragship_requests"))[0][0] == 1
    log.state.write(text("UPDATE ragship_feedback SET ts = :ts"), old)
    assert log.prune(30) == 1


def test_business_metrics_over_a_window(state):
    log = QueryLog(state)
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


def test_purging_a_keys_feedback_deletes_its_rows_in_every_collection_and_no_other_keys(state):
    log = QueryLog(state)
    for collection in ("default", "other"):
        rid = log.record(Observation("k1", collection, "ask", 3.0, "where?", "answered"))
        for key in ("flood", "flood", "k2"):
            log.feedback(rid, key, -1, "")
    assert log.purge_feedback("flood") == 4
    assert log.state.rows(text("SELECT key_id FROM ragship_feedback")) == [("k2",), ("k2",)]
    with pytest.raises(NotFound, match="no feedback from key 'flood'; `ragship feedback list`"):
        log.purge_feedback("flood")


def shown_answer(outcome="answer", question="and when did it end?", context=(), **fields):
    """An answer as the faces send it (Answer.to_dict's fields the log reads)."""
    return {"id": fields.pop("id", "a1"), "question": question, "answer": fields.pop("answer", "It ended in 1980 [1]."),
            "abstained": outcome != "answer", "outcome": outcome, "confidence": 0.7, "citations": [], "removed": [],
            "fallback": None, "searched": {"query": question, "context": [{"text": t, "weight": 0.5} for t in context],
                                           "rewritten_by": None, "fallback": None}, **fields}


def test_a_question_back_is_its_own_outcome_with_what_it_searched_and_its_conversation(state):
    log = QueryLog(state, "redact")
    found = SimpleNamespace(ranked={}, hits=[SimpleNamespace(score=0.8, doc_id="d", chunk_id="c")],
                            index_version="v1", mode="hybrid", timings_ms={}, query_vector=None)
    back = Observation.of_answer(shown_answer("clarify", "When did it end?", id="a2", answer="Which do you mean: A "
                                              "[1] or B [2]?"), found, "k1", "default", 5.0, "c-1")
    follow = Observation.of_answer(shown_answer("answer", "and when did it end?", ["mail jo@example.org about the "
                                                                                     "boycott"], id="a3"),
                                   found, "k1", "default", 5.0, "c-1")
    assert (back.outcome, back.answer, back.searched) == ("clarify", "Which do you mean: A [1] or B [2]?", None)
    log.record(back)
    log.record(follow)
    rows = log.state.rows(text("SELECT id, outcome, abstained, answer, searched, conversation_id FROM ragship_requests "
                         "ORDER BY id"))
    assert rows[0] == ("a2", "clarify", 0, "Which do you mean: A [1] or B [2]?", None, "c-1")
    assert json.loads(rows[1][4])["context"] == [{"text": "mail [EMAIL] about the boycott", "weight": 0.5}]
    assert rows[1][1:4] == ("answered", 0, "It ended in 1980 [1].") and rows[1][5] == "c-1"


def test_a_keys_conversations_are_read_from_the_log(state):
    log = QueryLog(state, "keep")
    at = time.time()
    for key, cid, question, ts in [("k1", "old", "What was the 1980 Summer Olympics boycott? " * 3, at - 30),
                                   ("k1", "old", "and when did it end?", at - 20),
                                   ("k2", "theirs", "How long is a surgical residency?", at - 15),
                                   ("k1", "new", "Who won the Super Bowl?", at - 10), ("k1", None, "alone", at)]:
        rid = log.record(Observation(key, "default", "ask", 3.0, question, "answered", answer=f"re: {question}",
                                     conversation_id=cid))
        log.state.write(text("UPDATE ragship_requests SET ts = :ts WHERE id = :id"), {"ts": ts, "id": rid})
    mine = log.conversations("k1")
    assert [(c["id"], c["turns"], c["key_id"]) for c in mine] == [("new", 1, "k1"), ("old", 2, "k1")]
    assert mine[1]["title"] == ("What was the 1980 Summer Olympics boycott? " * 3)[:80]
    assert (mine[1]["started"], mine[1]["last"]) == pytest.approx((at - 30, at - 20))
    assert {c["id"] for c in log.conversations(None)} == {"new", "old", "theirs"}
    assert [c["id"] for c in log.conversations("k1", limit=1)] == ["new"]
    turns = log.conversation("old", "k1")
    assert [(t["question"][:20], t["answer"][:12], t["outcome"]) for t in turns] == [
        ("What was the 1980 Su", "re: What was", "answered"), ("and when did it end?", "re: and when", "answered")]
    assert log.conversation("old", "k2") == [] and len(log.conversation("theirs", None)) == 1
    assert [(t["collection"], t["sources"]) for t in turns] == [("default", [])] * 2


def test_a_turn_keeps_the_numbers_of_its_citations(state):
    """Issue 49: what a reopened conversation links its [n] markers to; the retrieved rest has none."""
    log = QueryLog(state, "keep")
    found = SimpleNamespace(ranked={}, hits=[SimpleNamespace(score=0.8, doc_id="d", chunk_id=f"d#{i}")
                                             for i in range(4)], index_version="v1", mode="hybrid", timings_ms={},
                            query_vector=None)
    cited = [{"n": n, "doc_id": "d", "chunk_id": f"d#{n - 1}"} for n in (1, 3)]
    log.record(Observation.of_answer(shown_answer(citations=cited), found, "k1", "news", 5.0, "c-9"))
    (turn,) = log.conversation("c-9", "k1")
    assert turn["collection"] == "news" and turn["sources"] == [
        {"doc_id": "d", "chunk_id": "d#0", "cited": True, "n": 1},
        {"doc_id": "d", "chunk_id": "d#2", "cited": True, "n": 3},
        {"doc_id": "d", "chunk_id": "d#1", "cited": False}, {"doc_id": "d", "chunk_id": "d#3", "cited": False}]


def test_a_failure_is_logged_where_it_is_the_servers(state):
    """Issue 50: Request.failed logs what leaving the `with` block with the error does (a stream's error comes after
    the block): a 5xx as an error row, a caller's mistake not at all."""
    log = QueryLog(state, "keep")
    with pytest.raises(RuntimeError), log.request("k1", "default", "ask", "boom"):
        raise RuntimeError("disk on fire")
    streamed = log.request("k1", "default", "ask", "late")
    streamed.failed(RequestTimeout("too slow"))
    streamed.failed(QueryError("the query is empty"))
    rows = log.state.rows(text("SELECT question, outcome, error FROM ragship_requests ORDER BY question"))
    assert rows == [("boom", "error", "RuntimeError: disk on fire"), ("late", "error", "RequestTimeout: too slow")]

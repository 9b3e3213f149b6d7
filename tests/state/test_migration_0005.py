"""Migration 0005 (issue 51): a store at 0004 with query log rows is upgraded in place, its rows kept, with the
columns and index a key's conversations are read by."""

import time

from alembic import command
from sqlalchemy import inspect, text

from ragship.monitor.querylog import Observation, QueryLog
from ragship.state import State, migrate


def test_a_store_at_0004_gains_the_conversation_columns_keeping_its_rows(tmp_path):
    state = State(None, tmp_path)
    with state.connect() as c:  # the schema as the previous release left it
        config = migrate._config()
        config.attributes["connection"] = c
        command.upgrade(config, "0004")
        c.execute(text("INSERT INTO ragship_requests (id, ts, key_id, collection, kind, latency_ms, outcome, question) "
                       "VALUES ('old', :ts, 'k1', 'default', 'ask', 5.0, 'answered', 'what is it?')"),
                  {"ts": time.time()})
        assert "conversation_id" not in {col["name"] for col in inspect(c).get_columns("ragship_requests")}
    log = QueryLog(state, "keep")  # the first use upgrades the store
    log.record(Observation("k1", "default", "ask", 3.0, "and then?", "clarify", conversation_id="c-1"))
    with state.connect() as c:
        assert migrate.revision(c) == migrate.head()
        assert "ragship_requests_key_conversation" in {i["name"] for i in inspect(c).get_indexes("ragship_requests")}
    assert log.state.rows(text("SELECT id, conversation_id, searched FROM ragship_requests WHERE id = 'old'")) == [
        ("old", None, None)]
    assert [c["id"] for c in log.conversations("k1")] == ["c-1"]

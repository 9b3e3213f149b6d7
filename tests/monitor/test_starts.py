"""A server start is an event with what its settings changed (issue 49, finding 5: a restart with changed settings,
the trigger and the fix of an incident, never appeared: "Changes made meanwhile: none recorded")."""

from conftest import DATA, make_engine
from fastapi.testclient import TestClient

from ragship.access import Principal
from ragship.index import VersionRegistry
from ragship.monitor.events import Events
from ragship.monitor.incidents import Incidents
from ragship.monitor.querylog import QueryLog
from ragship.monitor.starts import changed_causes, record_start
from ragship.monitor.timeline import timeline
from ragship.server.app import create_app
from ragship.state import State


def test_a_start_says_what_changed_since_the_last_one_and_hides_secrets(tmp_path):
    events, started = Events(QueryLog(State(None, tmp_path))), tmp_path / "started.json"
    settings = {"answer": {"llm": {"base_url": "http://llm.internal/v1"}}, "monitor": {"webhook_url": "https://h/T0K"}}
    first = record_start(events, "default", settings, started, "cli (alice)", now=10)
    assert first.endswith("the first start recorded") and changed_causes(first) == {"service"}
    moved = {"answer": {"llm": {"base_url": "http://bob:s3cret@llm2.internal/v1"}},
             "monitor": {"webhook_url": "https://h/N3W"}}
    second = record_start(events, "default", moved, started, "cli (alice)", now=20)
    assert "answer.llm.base_url http://llm.internal/v1 -> http://bob:***@llm2.internal/v1" in second
    assert "monitor.webhook_url changed" in second and "T0K" not in second and "N3W" not in second
    assert "llm" in changed_causes(second)
    third = record_start(events, "default", moved, started, "cli (alice)", now=30)
    assert third.endswith("settings unchanged") and changed_causes(third) == {"service"}
    recorded = events.between("default", 0, 100)
    assert [(e["kind"], e["at"], e["by"]) for e in recorded] == [("server start", t, "cli (alice)")
                                                                 for t in (10, 20, 30)]
    incident = Incidents(events.log.state).open("default", "answers look wrong", by="bob", now=25)
    grouped = Principal("k1", "editor", frozenset({"red"}))  # a value may be a path it does not read
    shown = [e["text"] for e in timeline(incident, events.log, VersionRegistry(tmp_path / "index"), 60, now=40,
                                         viewer=grouped) if e["kind"] == "server start"]
    assert shown[1].endswith("changed since the last start: answer.llm.base_url; monitor.webhook_url")


def test_the_server_records_its_start_in_each_collection(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.release(engine.ingest([DATA / "docs" / "handbook" / "trams.md"]))
    with TestClient(create_app(engine)):
        pass
    with TestClient(create_app(make_engine(tmp_path / "home", cache_dir, answer={"abstain_threshold": 0.7}))):
        pass
    starts = [e["text"] for e in Events(QueryLog(engine.state)).between("default", 0, 1e12)
              if e["kind"] == "server start"]
    assert len(starts) == 2 and "answer.abstain_threshold 0.5 -> 0.7" in starts[1]

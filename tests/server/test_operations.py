"""Who did what, through the API (issue 49, finding 8): an incident acknowledged and resolved, or a drift reference
reset, by a key reads as the key's name and id, not its id alone."""

from conftest import make_engine
from fastapi.testclient import TestClient

from ragship.access import KeyStore
from ragship.monitor.events import Events
from ragship.monitor.incidents import Incidents
from ragship.monitor.querylog import QueryLog
from ragship.server.app import create_app


def test_an_api_key_is_named_by_its_name_and_id_in_incidents_and_events(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir)
    secret, record = KeyStore(engine.state).create("admin", [], "ops-bot")
    incident = Incidents(engine.state).open("default", "answers are stale", "cli (alice)")
    client, auth = TestClient(create_app(engine)), {"Authorization": f"Bearer {secret}"}
    who = f'key "ops-bot" ({record.id})'

    acked = client.post(f"/v1/incidents/{incident.id}/ack", headers=auth)
    assert acked.status_code == 200, acked.text
    assert acked.json()["entries"][-1]["by"] == who and acked.json()["entries"][-1]["text"] == f"acknowledged by {who}"
    resolved = client.post(f"/v1/incidents/{incident.id}/resolve", headers=auth, json={"note": "re-synced"})
    assert resolved.json()["entries"][-1]["by"] == who
    assert client.post("/v1/monitor/drift/reset", headers=auth).status_code == 200
    reset = [e for e in Events(QueryLog(engine.state)).between("default", 0, 2e9) if e["kind"] == "drift reset"]
    assert reset[-1]["by"] == who


def test_an_incident_with_a_blank_title_is_refused_and_one_stored_blank_is_listed_untitled(tmp_path, cache_dir):
    """Issue 49: a whitespace title passed the API's check; an incident stored blank was a row with no link."""
    from ragship.monitor.incidents import Incident

    engine = make_engine(tmp_path / "home", cache_dir)
    secret, _ = KeyStore(engine.state).create("editor", [], "ops")
    client, auth = TestClient(create_app(engine)), {"Authorization": f"Bearer {secret}"}
    for blank in ("", "   "):
        r = client.post("/v1/incidents", headers=auth, json={"title": blank})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    with engine.state.ready() as c:
        Incidents._save(c, Incident("old", "default", "", "open", 10.0), new=True)
    assert [i["title"] for i in client.get("/v1/incidents", headers=auth).json()["incidents"]] == ["(untitled)"]


def test_promoting_without_golden_sets_is_a_409_problem_that_says_what_to_do(tmp_path, cache_dir):
    """Issue 49: `POST /v1/versions/{id}/promote {}` with no golden sets configured answered 500 (a ConfigError)."""
    import shutil

    from conftest import DATA

    corpus = tmp_path / "docs"
    shutil.copytree(DATA / "docs", corpus)
    engine = make_engine(tmp_path / "home", cache_dir, release={"auto_promote": "never"})
    engine.ingest([corpus])  # v1, the first version, goes live
    (corpus / "new.md").write_text("# Ferries\n\nThe night ferry leaves at eleven.\n")
    assert engine.ingest([corpus]).candidate
    secret, _ = KeyStore(engine.state).create("admin", [], "ops")
    client, auth = TestClient(create_app(engine)), {"Authorization": f"Bearer {secret}"}

    r = client.post("/v1/versions/v2/promote", headers=auth, json={})
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert r.json()["title"] == "GateUnavailable" and "the gate needs golden sets" in r.json()["detail"]
    assert '{"force": true}' in r.json()["detail"] and engine.registry.live().id == "v1"
    assert client.post("/v1/versions/v2/promote", headers=auth, json={"force": True}).json()["live"] == "v2"

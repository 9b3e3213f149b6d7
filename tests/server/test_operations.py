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

"""Monitoring through the real app (in process): every search, answer (streamed too) and server-side failure lands
in the query log with what drift needs; the monitor endpoints answer; the CLI reads the same state."""

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from conftest import DATA
from inprocess import service
from ragship.cli import app


@pytest.fixture(scope="module")
def site(tmp_path_factory, cache_dir):
    tmp = tmp_path_factory.mktemp("monitoring")
    toml = ('[monitor]\nquery_text = "redact"\nmin_requests = 1\nreference = 20\nrecent = 20\n'
            "evaluate_every_s = 3600\n")
    with service(tmp, cache_dir, DATA / "docs", toml) as (client, _, env):
        client.get("/v1/search", params={"q": "tram tickets for jo@example.org"}).raise_for_status()
        client.post("/v1/ask", json={"question": "When are depot tours?"}).raise_for_status()
        with client.stream("POST", "/v1/ask/stream", json={"question": "Who designed the harbour power station?"}) \
                as r:
            events = [line for line in r.iter_lines() if line.startswith("event:")]
        assert events[-1] == "event: answer"
        yield client, tmp / "home", env  # three requests logged: each test reads them, whichever runs first


def test_requests_are_logged_with_what_monitoring_needs(site):
    _, home, _ = site
    rows = sqlite3.connect(home / "state.sqlite").execute(
        "SELECT kind, outcome, version, hits, top_score, length(sketch), question FROM ragship_requests "
        "ORDER BY ts").fetchall()
    search, ask, streamed = rows[:3]
    assert search[:4] == ("search", "results", "v1", 10) and search[4] > 0.2 and search[5] == 768
    assert search[6] == "tram tickets for [EMAIL]"  # redacted before it was stored
    assert ask[:3] == ("ask", "answered", "v1") and ask[5] == 768
    assert streamed[:3] == ("ask", "answered", "v1") and streamed[5] == 768


def test_monitor_endpoints(site):
    client, _, _ = site
    signals = client.get("/v1/monitor/signals").json()
    assert signals["signals"]["answer_rate"] == 1.0 and signals["window"]["requests"] >= 3
    drift = client.get("/v1/monitor/drift").json()
    assert drift["status"].startswith("collecting the reference")
    alerts = client.get("/v1/monitor/alerts").json()
    assert {a["name"] for a in alerts["states"]} >= {"QueryDrift", "FeedbackLow", "SourceStale"}
    reset = client.post("/v1/monitor/drift/reset").json()
    assert reset["reason"] == "reset by hand" and reset["version"] == "v1"
    series = client.get("/v1/monitor/series", params={"minutes": 60, "bucket_s": 60}).json()["series"]
    assert sum(b["requests"] for b in series) >= 3 and series[-1]["p95_ms"] is not None


def test_cli_reads_the_same_monitoring_state(site, tmp_path):
    _, home, env = site
    runner, at = CliRunner(), ["--home", str(home)]
    signals = runner.invoke(app, [*at, "monitor", "signals", "--json"], env={"RAGSHIP_CONFIG": env["RAGSHIP_CONFIG"]})
    assert signals.exit_code == 0 and json.loads(signals.stdout)["signals"]["answer_rate"] == 1.0
    tick = runner.invoke(app, [*at, "monitor", "tick", "--json"], env={"RAGSHIP_CONFIG": env["RAGSHIP_CONFIG"]})
    assert tick.exit_code == 0 and json.loads(tick.stdout)["events"] == []
    listed = runner.invoke(app, [*at, "monitor", "alerts"], env={"RAGSHIP_CONFIG": env["RAGSHIP_CONFIG"]})
    assert listed.exit_code == 0 and "QueryDrift" in listed.output and "inactive" in listed.output
    drift = runner.invoke(app, [*at, "drift"], env={"RAGSHIP_CONFIG": env["RAGSHIP_CONFIG"]})
    assert drift.exit_code == 0 and "collecting the reference" in drift.output
    exported = runner.invoke(app, [*at, "monitor", "export", str(tmp_path / "out")])
    assert exported.exit_code == 0 and (tmp_path / "out" / "ragship-rules.yml").exists()

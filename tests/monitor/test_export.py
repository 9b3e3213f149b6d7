"""`ragship monitor export`: the alert rules as a Prometheus rules file that promtool accepts and a Prometheus
server loads while it scrapes a real ragship server's /metrics; and a Grafana dashboard of the same signals."""

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import DATA, free_port

from ragship.cli.files import write_files
from ragship.monitor.export import files, grafana_dashboard, prometheus_rules
from ragship.monitor.rules import DEFAULT_RULES, SIGNALS
from serving import env_for, ingest, ragship, serving

PROMTOOL, PROMETHEUS = shutil.which("promtool"), shutil.which("prometheus")


def test_dashboard_has_traffic_latency_and_a_panel_per_watched_signal():
    dashboard = grafana_dashboard(DEFAULT_RULES)
    traffic, latency, *signals = dashboard["panels"]
    assert "ragship_request_seconds_count" in traffic["targets"][0]["expr"]
    assert [t["legendFormat"] for t in latency["targets"]] == ["p50", "p95"]
    exprs = [p["targets"][0]["expr"] for p in signals]
    assert len(exprs) == len({r.signal for r in DEFAULT_RULES}) and all(e.startswith("ragship_signal{") for e in exprs)
    assert all(any(f'"{s}"' in e for e in exprs) for s in {r.signal for r in DEFAULT_RULES} & set(SIGNALS))


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed: `make browser` installs Debian's prometheus")
def test_promtool_accepts_the_generated_rules(tmp_path):
    rules_file, _ = write_files(tmp_path, files(DEFAULT_RULES))
    checked = subprocess.run([PROMTOOL, "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(DEFAULT_RULES)} rules found" in checked.stdout


def test_a_rule_on_a_windows_rate_needs_its_recent_value_too():
    """As the server evaluates it (ADR 0022, issue 49): it resolves soon after a fix, not when the window empties."""
    exprs = {r["alert"]: r["expr"] for r in prometheus_rules(DEFAULT_RULES)["groups"][0]["rules"]}
    assert exprs["LLMFallback"] == ('ragship_signal{signal="llm_fallback_rate"} > 0.2 and on(collection) '
                                    'ragship_signal{signal="llm_fallback_rate:recent"} > 0.2')
    assert exprs["SourceStale"] == 'ragship_signal{signal="source_staleness"} > 1'


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed: `make browser` installs it")
def test_prometheus_scrapes_the_server_and_loads_the_rules(tmp_path, cache_dir):
    config = tmp_path / "ragship.toml"
    config.write_text("[monitor]\nmin_requests = 1\nevaluate_every_s = 1\n")
    env = env_for(tmp_path / "home", cache_dir, config)
    ingest(env, DATA / "docs")
    ragship(env, "monitor", "export", str(tmp_path / "export"))
    with serving(env) as base:
        for question in ("How do I run the evaluation?", "What is the capital of Mars?"):
            httpx.get(f"{base}/v1/ask", params={"q": question}).raise_for_status()
        prom = start_prometheus(tmp_path, base, tmp_path / "export" / "ragship-rules.yml")
        try:
            api = f"http://127.0.0.1:{prom[1]}/api/v1"
            rules = wait_for(lambda: httpx.get(f"{api}/rules").json()["data"]["groups"])
            assert {r["name"] for r in rules[0]["rules"]} == {r.name for r in DEFAULT_RULES}
            target = wait_for(lambda: [t for t in httpx.get(f"{api}/targets").json()["data"]["activeTargets"]
                                       if t["health"] == "up"])
            assert target[0]["labels"]["job"] == "ragship"
            series = wait_for(lambda: httpx.get(f"{api}/query", params={
                "query": 'ragship_signal{signal="answer_rate"}'}).json()["data"]["result"])
            assert series[0]["metric"]["collection"] == "default" and 0 <= float(series[0]["value"][1]) <= 1
        finally:
            prom[0].terminate()
            prom[0].wait(10)


def start_prometheus(tmp_path: Path, base: str, rules: Path):
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "ragship", "static_configs": [{"targets": [base.split("//")[1]]}]}]}))
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, port


def wait_for(probe, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = probe()
            if found:
                return found
        except (httpx.HTTPError, KeyError, ValueError):  # still starting: 503 "Service Unavailable", no JSON
            pass
        time.sleep(0.5)
    raise AssertionError("Prometheus did not show it in time")

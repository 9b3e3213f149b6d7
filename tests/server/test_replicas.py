"""Several server processes over one home: `serve --workers N` on one port, and separate `serve` processes sharing
a PostgreSQL state store. A key's rate limit holds across all of them, every process follows a promotion, their
metrics are merged, and killing one under load leaves the others serving with nothing acknowledged lost."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from serving import DATA, create_key, ragship, serving, teams_home


def _workers(pid: int) -> list[int]:
    """The worker processes uvicorn's supervisor spawned (not multiprocessing's resource tracker)."""
    children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _statuses(base: str, key: str, n: int) -> list[int]:
    """`n` requests, each on its own connection (so uvicorn's workers share them out)."""
    return [httpx.get(f"{base}/v1/search", params={"q": "refund"}, headers={"Authorization": f"Bearer {key}"},
                      timeout=30).status_code for _ in range(n)]


def test_workers_share_one_rate_limit_follow_promotions_and_merge_metrics(tmp_path, cache_dir):
    env = teams_home(tmp_path, cache_dir, "[server]\nrate_per_minute = 12\nburst = 12\n")
    key, admin = create_key(env, "reader", "red"), create_key(env, "admin")
    with serving(env, "--workers", "2", pid=True) as (base, pid):
        assert len(_workers(pid)) == 2  # two worker processes under uvicorn's supervisor
        statuses = _statuses(base, key, 16)
        assert statuses.count(200) == 12 and statuses[12:] == [429] * 4  # one limit for the key, not one per worker
        ragship(env, "ingest", str(DATA / "docs"))  # a new live version
        live = ragship(env, "status", "--json").stdout
        seen = {httpx.get(f"{base}/healthz").json()["live_version"] for _ in range(8)}
        assert len(seen) == 1 and seen.pop() in live  # every worker serves the new version at once
        metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {admin}"}).text
        counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                      if line.startswith('ragship_request_seconds_count{route="/v1/search"'))
        assert counted >= 16  # both workers' requests, whichever one was scraped


def test_replicas_on_postgres_share_limits_and_survive_a_kill(tmp_path, cache_dir, postgres_url):
    env = teams_home(tmp_path, cache_dir, f'[state]\nurl = "{postgres_url}"\n'
                                          "[server]\nrate_per_minute = 600\nburst = 600\n")
    key = create_key(env, "reader", "red")
    limited_env = {**env, "RAGSHIP_SERVER__RATE_PER_MINUTE": "10", "RAGSHIP_SERVER__BURST": "10"}
    with serving(limited_env) as a, serving(limited_env) as b:
        statuses = _statuses(a, key, 6) + _statuses(b, key, 6)
        assert statuses.count(200) == 10 and statuses[-2:] == [429, 429]  # one count for both replicas...
    with psycopg.connect(postgres_url) as db:  # ...kept in PostgreSQL, not in the home
        assert db.execute("SELECT count(*) FROM ragship_rate_hits").fetchone()[0] >= 10
    assert not (tmp_path / "home" / "state.sqlite").exists()
    with serving(env, pid=True) as (a, a_pid), serving(env) as b:
        acknowledged, stop = [], threading.Event()

        def load(base: str) -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
                while not stop.is_set():
                    try:
                        answer = c.get("/v1/ask", params={"q": "how long does a refund take"}).json()
                        if c.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "up"}
                                  ).status_code == 201:
                            acknowledged.append(answer["id"])
                    except (httpx.HTTPError, KeyError, ValueError):
                        pass  # the killed replica's requests fail; only acknowledged ones must survive

        threads = [threading.Thread(target=load, args=(base,)) for base in (a, a, b)]
        for t in threads:
            t.start()
        time.sleep(3)
        os.kill(a_pid, signal.SIGKILL)
        time.sleep(3)
        after_kill = len(acknowledged)
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert len(acknowledged) > after_kill  # the other replica kept serving
    with sqlite3.connect(tmp_path / "home" / "monitor.sqlite") as db:
        kept = {row[0] for row in db.execute("SELECT answer_id FROM feedback")}
    assert set(acknowledged) <= kept


def test_ray_serve_replicas_share_limits_and_follow_promotions(tmp_path, cache_dir):
    pytest.importorskip("ray.serve", reason="Ray Serve is not installed (ragship[ray])")
    env = teams_home(tmp_path, cache_dir, "[server]\nrate_per_minute = 10\nburst = 10\n")
    key = create_key(env, "reader", "red")
    with serving(env, "--ray", "--replicas", "2", ready_s=240) as base:
        deadline = time.monotonic() + 120  # the second replica starts after the first
        while _replicas() < 2 and time.monotonic() < deadline:
            time.sleep(2)
        assert _replicas() == 2
        statuses = _statuses(base, key, 14)
        assert statuses.count(200) == 10 and statuses[10:] == [429] * 4  # one count for both replicas
        ragship(env, "ingest", str(DATA / "docs"))
        live = json.loads(ragship(env, "status", "--json").stdout)["live_version"]
        assert {httpx.get(f"{base}/healthz").json()["live_version"] for _ in range(8)} == {live}


def _replicas() -> int:
    """Ray Serve replica processes of the ragship deployment running on this machine."""
    found = 0
    for proc in Path("/proc").iterdir():
        try:
            found += proc.name.isdigit() and b"ServeReplica:ragship" in (proc / "cmdline").read_bytes()
        except OSError:
            pass
    return found

"""Several server processes over one home: `serve --workers N` on one port, and separate `serve` processes sharing
a PostgreSQL state store. A key's rate limit holds across all of them, every process follows a promotion, their
metrics are merged, and killing one under load leaves the others serving with nothing acknowledged lost."""

from __future__ import annotations

import json
import os
import signal
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


def _postgres_home(tmp_path, cache_dir, url: str, extra: str = "") -> dict:
    return teams_home(tmp_path, cache_dir, f'[state]\nurl = "{url}"\n[server]\nrate_per_minute = 600\nburst = 600\n'
                      f"job_lease_s = 3\n{extra}")


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _upload(base: str, key: str, n: int) -> httpx.Response:
    text = f"# Depot bulletin {n}\n\nTram {n} of the red line is serviced at depot bay {n} on Thursdays.\n"
    return httpx.post(f"{base}/v1/documents", headers=_auth(key), data={"groups": "red"}, timeout=60,
                      files={"files": (f"bulletin-{n}.md", text.encode(), "text/markdown")})


def _finished(base: str, key: str, job_id: str, within_s: float = 180) -> dict:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        job = httpx.get(f"{base}/v1/jobs/{job_id}", headers=_auth(key), timeout=30).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.5)
    pytest.fail(f"job {job_id} did not finish: {job}")


def test_replicas_on_postgres_share_keys_limits_jobs_and_the_query_log(tmp_path, cache_dir, postgres_db):
    env = _postgres_home(tmp_path, cache_dir, postgres_db)
    limited, editor = create_key(env, "reader", "red"), create_key(env, "editor", "red")
    limits = {**env, "RAGSHIP_SERVER__RATE_PER_MINUTE": "10", "RAGSHIP_SERVER__BURST": "10"}
    with serving(limits) as a, serving(limits) as b:
        statuses = _statuses(a, limited, 6) + _statuses(b, limited, 6)
        assert statuses.count(200) == 10 and statuses[-2:] == [429, 429]  # one count for both replicas
        late = create_key(env, "reader", "red")  # a key made while they run works on both at once...
        assert [httpx.get(f"{u}/v1/me", headers=_auth(late)).status_code for u in (a, b)] == [200, 200]
        ragship(env, "keys", "revoke", late.split("_")[1])  # ...and a revoked one on neither
        assert [httpx.get(f"{u}/v1/me", headers=_auth(late)).status_code for u in (a, b)] == [401, 401]
        job = _upload(a, editor, 1).json()  # uploaded to one replica, followed on the other
        assert _finished(b, editor, job["id"])["status"] == "done"
        hits = httpx.get(f"{b}/v1/search", params={"q": "depot bay 1 Thursdays"}, headers=_auth(editor)).json()
        assert hits["results"][0]["doc_id"] == f"uploads/{editor.split('_')[1]}/bulletin-1.md"
        answer = httpx.post(f"{a}/v1/ask", json={"question": "When is tram 1 serviced?"}, headers=_auth(editor),
                            timeout=60).json()  # answered by one, rated through the other
        assert httpx.post(f"{b}/v1/feedback", json={"answer_id": answer["id"], "rating": "up"},
                          headers=_auth(editor)).status_code == 201
    with psycopg.connect(postgres_db) as db:  # all of it in PostgreSQL, none of it in the home
        def count(table):
            return db.execute(f"SELECT count(*) FROM ragship_{table}").fetchone()[0]

        assert count("rate_hits") >= 10 and count("keys") == 3 and count("jobs") == 1 and count("feedback") == 1
        assert db.execute("SELECT key_id FROM ragship_requests WHERE id = %s", (answer["id"],)).fetchone()
    assert not any((tmp_path / "home" / name).exists() for name in ("state.sqlite", "keys.json", "monitor.sqlite"))


def test_killing_a_replica_under_load_loses_no_acknowledged_upload_or_feedback(tmp_path, cache_dir, postgres_db):
    env = _postgres_home(tmp_path, cache_dir, postgres_db)
    key = create_key(env, "editor", "red")
    with serving(env, pid=True) as (a, a_pid), serving(env) as b:
        rated, jobs, stop = [], [], threading.Event()

        def asking(base: str) -> None:
            with httpx.Client(base_url=base, headers=_auth(key), timeout=30) as c:
                while not stop.is_set():
                    try:
                        answer = c.get("/v1/ask", params={"q": "how long does a refund take"}).json()
                        if c.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "up"}
                                  ).status_code == 201:
                            rated.append(answer["id"])
                    except (httpx.HTTPError, KeyError, ValueError):
                        pass  # the killed replica's requests fail; only acknowledged ones must survive

        def uploading() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    r = _upload(a if n % 2 else b, key, n)
                    if r.status_code == 202:
                        jobs.append(r.json()["id"])
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)

        threads = [threading.Thread(target=f, args=args) for f, args in
                   [(asking, (a,)), (asking, (b,)), (uploading, ())]]
        for t in threads:
            t.start()
        with psycopg.connect(postgres_db, autocommit=True) as db:  # kill A while it is ingesting an upload
            deadline = time.monotonic() + 60
            while not db.execute("SELECT id FROM ragship_jobs WHERE status = 'running' AND owner LIKE %s",
                                 (f"%:{a_pid}",)).fetchone():
                assert time.monotonic() < deadline, "replica A never ran an upload job"
                time.sleep(0.05)
            os.kill(a_pid, signal.SIGKILL)
            after_kill, deadline = len(rated), time.monotonic() + 60
            while len(rated) < after_kill + 5:  # the other replica keeps serving: its next answers, not a sleep
                assert time.monotonic() < deadline, "replica B answered nothing after A was killed"
                time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join(timeout=60)
            finished = [_finished(b, key, job_id) for job_id in jobs]  # B takes over A's jobs when leases lapse
            assert all(j["status"] == "done" for j in finished), [j for j in finished if j["status"] != "done"]
            taken_over = db.execute("SELECT count(*) FROM ragship_jobs WHERE attempts > 1").fetchone()[0]
            kept = {row[0] for row in db.execute("SELECT answer_id FROM ragship_feedback")}
        assert taken_over >= 1 and set(rated) <= kept
        docs = {d["doc_id"] for d in httpx.get(f"{b}/v1/documents", params={"limit": 1000},
                                               headers=_auth(key)).json()["documents"]}
        assert {r["doc_id"] for j in finished for r in j["results"]} <= docs  # every acknowledged upload is in


@pytest.mark.xdist_group("ray")  # one Ray instance on the machine at a time (make test runs -n)
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

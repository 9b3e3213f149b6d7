"""The real app in this process (FastAPI's TestClient over the real engine, index, state store and job worker)
for route tests that need no server process: a tests/data/teams home with one key per role and group."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from conftest import DATA, make_engine
from ragship.access import KeyStore
from ragship.server.app import create_app

# (name, role, groups): a reader and an editor in each group, an editor without groups, an admin
CALLERS = [("reader-red", "reader", ["red"]), ("reader-blue", "reader", ["blue"]),
           ("editor-red", "editor", ["red"]), ("editor-blue", "editor", ["blue"]),
           ("editor-public", "editor", []), ("admin", "admin", [])]


def teams_api(home, cache_dir, **overrides):
    """A TestClient context over a teams home (red/ readable by red, blue/ by blue), and each caller's key."""
    root = (DATA / "teams").resolve()
    engine = make_engine(home, cache_dir, sources=[
        {"path": root / "red", "groups": ["red"]}, {"path": root / "blue", "groups": ["blue"]}],
        **{"server": {"rate_per_minute": 100000, "burst": 10000}, **overrides})
    engine.ingest([DATA / "teams"])
    keys = {name: KeyStore(engine.state).create(role, groups, name)[0] for name, role, groups in CALLERS}
    return TestClient(create_app(engine)), keys


def call(api, key, method, path, **kwargs):
    client, keys = api
    headers = {"Authorization": f"Bearer {keys[key]}", **kwargs.pop("headers", {})}
    return client.request(method, path, headers=headers, **kwargs)


def wait_job(api, key, job_id, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while (job := call(api, key, "GET", f"/v1/jobs/{job_id}").json())["status"] not in ("done", "failed"):
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} did not finish: {job}")
        time.sleep(0.1)
    return job


def upload(api, key, files, groups=""):
    """POST `files` ({name: bytes}) as one upload; (status, the finished job or None)."""
    r = call(api, key, "POST", "/v1/documents", files=[("files", (n, d)) for n, d in files.items()],
             data={"groups": groups})
    return (r.status_code, wait_job(api, key, r.json()["id"])) if r.status_code == 202 else (r.status_code, None)


def text_of(api, key, doc_id):
    r = call(api, key, "GET", f"/v1/documents/{doc_id}")
    return r.json()["text"] if r.status_code == 200 else None

"""The real app in this process (FastAPI's TestClient over the real engine, index, state store and job worker)
for route tests that need no server process: a tests/data/teams home with one key per role and group."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import DATA, make_engine
from ragship.access import KeyStore
from ragship.server.app import create_app
from serving import TEAMS_TOML, engine_for, env_for

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


@contextmanager
def service(tmp: Path, cache_dir: Path, corpus: Path, toml: str = "",
            callers: dict[str, tuple[str, str]] | None = None):
    """The app in process (its lifespan running: job worker, scheduler) over a home that ingested `corpus` under
    the settings in `toml` (written to tmp/ragship.toml, so CLI commands run with `env` see the same home and
    settings). `callers`: {name: (role, "group,group")}; none is a local single-user server. Yields
    (client, {name: key}, env)."""
    config = tmp / "ragship.toml"
    config.write_text(toml)
    env = env_for(tmp / "home", cache_dir, config)
    engine = engine_for(env)
    engine.release(engine.ingest([corpus]))
    store = KeyStore(engine.state)
    keys = {name: store.create(role, [g for g in groups.split(",") if g], name)[0]
            for name, (role, groups) in (callers or {}).items()}
    with TestClient(create_app(engine)) as client:
        yield client, keys, env


def teams_service(tmp: Path, cache_dir: Path, callers: dict[str, tuple[str, str]], extra_toml: str = ""):
    """`service` over tests/data/teams as serving.teams_home sets it up (red/ readable by red, blue/ by blue)."""
    return service(tmp, cache_dir, DATA / "teams", extra_toml + TEAMS_TOML.format(root=(DATA / "teams").resolve()),
                   callers)


def call(api, key, method, path, **kwargs):
    client, keys = api
    headers = {"Authorization": f"Bearer {keys[key]}", **kwargs.pop("headers", {})}
    return client.request(method, path, headers=headers, **kwargs)


def ask(api, key, question):
    """The JSON of a question `key` asked (200 required)."""
    r = call(api, key, "POST", "/v1/ask", json={"q": question})
    assert r.status_code == 200, r.text
    return r.json()


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

"""Issue 32: blocking work inside `async def` routes (a collection's folder removed, records read) stalled every
request on that event loop. Each operation route, made slow on purpose, runs in a worker thread: a health probe
sent while it works answers at once."""

import asyncio
import time

import httpx
import pytest

from conftest import DATA
from inprocess import service
from ragship.collections import Collections
from ragship.monitor.alerts import Alerts
from ragship.release import Releases

SLOW_S = 1.5


def slow(original):
    def blocking(*args, **kwargs):
        time.sleep(SLOW_S)  # a big folder to remove, a slow disk: work that holds the thread
        return original(*args, **kwargs)
    return blocking


@pytest.mark.parametrize("method, path, cls, name", [
    ("DELETE", "/v1/collections/notes", Collections, "delete"),
    ("GET", "/v1/collections", Collections, "describe"),
    ("POST", "/v1/collections", Collections, "create"),
    ("GET", "/v1/versions/v1/report", Releases, "report"),
    ("GET", "/v1/monitor/alerts", Alerts, "events"),
])
def test_a_slow_operation_does_not_stall_other_requests(tmp_path, cache_dir, monkeypatch, method, path, cls, name):
    with service(tmp_path, cache_dir, DATA / "beir-mini") as (client, _, _):
        client.post("/v1/collections", json={"name": "notes"}).raise_for_status()
        app = client.app
        monkeypatch.setattr(cls, name, slow(getattr(cls, name)))
        body = {"json": {"name": "more"}} if method == "POST" else {}

        async def race() -> tuple[float, float]:
            """When the probe and the slow request finished, counted from the slow request's start: a blocked
            loop runs nothing else, not even this coroutine's timer, until the blocking call returns."""
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                started = time.perf_counter()
                work = asyncio.create_task(c.request(method, path, **body))
                await asyncio.sleep(0.2)  # the slow route is inside its blocking call by now
                assert (await c.get("/healthz")).status_code == 200
                probe_done = time.perf_counter() - started
                assert (await work).status_code < 500
                return probe_done, time.perf_counter() - started

        probe_s, work_s = asyncio.run(race())
    assert work_s >= SLOW_S and probe_s < SLOW_S / 2, (probe_s, work_s)

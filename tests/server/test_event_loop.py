"""Issue 32: blocking work inside `async def` routes (a collection's folder removed, records read) stalled every
request on that event loop. Each operation route, made slow on purpose, runs in a worker thread: a health probe
sent while it works answers at once. Issue 50: the same for the query log's writes (every face's), a job's read, the
MCP endpoint's key check, and a long answer stream; and the query gate is waited for, and held, at most the request
time limit."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import DATA
from inprocess import service
from ragship.access import KeyStore
from ragship.collections import Collections
from ragship.ingest.jobs import Jobs
from ragship.monitor.alerts import Alerts
from ragship.monitor.querylog import QueryLog
from ragship.release import Releases
from ragship.server.limits import RateLimiter

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


# -- issue 50 item 3: the query log, the job table, the MCP key check and the query gate, none on the event loop --
HELD_S = 2.0  # a slow store: a write, a lookup or a rate-limit count that holds its thread this long
PROBE_S = 0.1  # what /healthz may take meanwhile
QUESTION = "Does aspirin prevent heart attacks?"
MCP = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, cache_dir):
    """The app in process (its loop in TestClient's portal thread, as a server's) and an admin key's header."""
    toml = "[server]\nrate_per_minute = 100000\nburst = 10000\n"
    with service(tmp_path_factory.mktemp("loop"), cache_dir, DATA / "beir-mini", toml,
                 {"admin": ("admin", "")}) as (client, keys, _):
        yield client, {"Authorization": f"Bearer {keys['admin']}"}


def held(original, entered: threading.Event, left: threading.Event):
    """`original`, held HELD_S first in whichever thread calls it: `entered` and `left` say when."""
    def blocking(*args, **kwargs):
        entered.set()
        time.sleep(HELD_S)
        try:
            return original(*args, **kwargs)
        finally:
            left.set()
    return blocking


def probe(client) -> float:
    started = time.perf_counter()
    assert client.get("/healthz").status_code == 200
    return time.perf_counter() - started


def mcp_call(tool: str, arguments: dict) -> dict:
    return {"json": {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool,
                                                                                "arguments": arguments}}}


@pytest.mark.parametrize("cls, name, method, path, body", [
    (QueryLog, "record", "GET", "/v1/search", {"params": {"q": QUESTION}}),
    (QueryLog, "record", "POST", "/v1/ask", {"json": {"q": QUESTION}}),
    (QueryLog, "record", "POST", "/v1/chat/completions", {"json": {"messages": [{"role": "user",
                                                                                 "content": QUESTION}]}}),
    (QueryLog, "record", "POST", "/mcp", mcp_call("search", {"query": QUESTION, "k": 3})),
    (QueryLog, "record", "POST", "/mcp", mcp_call("ask", {"question": QUESTION})),
    (Jobs, "get", "GET", "/v1/jobs/0123456789abcdef", {}),
    (KeyStore, "bearer", "POST", "/mcp", {"json": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}}),
    (RateLimiter, "acquire", "POST", "/mcp", {"json": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}}),
], ids=["search-log", "ask-log", "chat-log", "mcp-search-log", "mcp-ask-log", "job-get", "mcp-key", "mcp-rate"])
def test_healthz_answers_while_a_blocking_call_is_held(served, monkeypatch, cls, name, method, path, body):
    """A query log write (each face's), a job read, the MCP endpoint's key lookup and rate-limit count, each held
    HELD_S: /healthz, sent while it is held, answers within PROBE_S (on the event loop they stalled it HELD_S)."""
    client, auth = served
    entered, left = threading.Event(), threading.Event()
    monkeypatch.setattr(cls, name, held(getattr(cls, name), entered, left))
    headers = {**auth, **(MCP if path == "/mcp" else {})}
    with ThreadPoolExecutor(1) as pool:
        work = pool.submit(client.request, method, path, headers=headers, **body)
        assert entered.wait(60), "the held call was never made"
        probe_s = probe(client)
        during = not left.is_set()
        r = work.result(timeout=120)
    assert r.status_code < 500, r.text
    print(f"\n{path} {cls.__name__}.{name} held {HELD_S} s: /healthz in {probe_s * 1000:.1f} ms")
    assert during and probe_s < PROBE_S, (probe_s, during)


def slow_stream(engine, sentences: int, pause_s: float):
    """engine.ask_stream after `sentences` made-up sentences, `pause_s` apart: a long answer, in the worker thread."""
    real = engine.ask_stream

    def stream(question, mode=None, flt=None):
        for i in range(sentences):
            time.sleep(pause_s)
            yield {"type": "sentence", "text": f"Sentence {i}."}
        yield from real(question, mode, flt)
    return stream


@pytest.mark.parametrize("path, body", [
    ("/v1/ask/stream", {"q": QUESTION}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}], "stream": True}),
], ids=["ask-stream", "chat-stream"])
def test_healthz_answers_all_through_a_long_answer_stream(served, monkeypatch, path, body):
    """A stream open for seconds (15 sentences 0.2 s apart, then the answer, its log write held HELD_S): /healthz,
    probed all along, answers within PROBE_S (19 probes in 20: `make test` runs three workers on two cores, and one
    probe in ~90 can wait that long for a core) and never near HELD_S (a loop or a lock held by the stream stalled
    every probe for the held write, 2 s, or for the whole stream)."""
    client, auth = served
    engine = client.app.state.service.collections.default
    monkeypatch.setattr(engine, "ask_stream", slow_stream(engine, 15, 0.2))
    entered, left = threading.Event(), threading.Event()
    monkeypatch.setattr(QueryLog, "record", held(QueryLog.record, entered, left))
    probes, while_held = [], []
    with ThreadPoolExecutor(1) as pool:
        started = time.perf_counter()
        work = pool.submit(client.post, path, json=body, headers=auth)
        while not work.done():
            during = entered.is_set() and not left.is_set()
            probes.append(probe(client))
            if during and not left.is_set():
                while_held.append(probes[-1])
            time.sleep(0.05)
        r, open_s = work.result(), time.perf_counter() - started
    assert r.status_code == 200 and "Sentence 14." in r.text, r.text[-2000:]
    print(f"\n{path} open {open_s:.1f} s: {len(probes)} probes of /healthz, the slowest {max(probes) * 1000:.1f} ms; "
          f"{len(while_held)} while the answer's log write was held, the slowest "
          f"{max(while_held, default=0) * 1000:.1f} ms")
    assert open_s >= 3 + HELD_S and while_held, (open_s, while_held)
    assert sorted(probes)[int(0.95 * len(probes))] < PROBE_S and max(probes) < HELD_S / 4, sorted(probes)[-5:]


def test_a_query_waits_at_most_the_time_limit_for_its_turn(served, monkeypatch):
    """While another query holds the gate (a long stream), a stream, a search and an answer each get a 503 problem
    naming server.request_timeout_s once the limit passes, instead of queueing for as long as the other runs."""
    client, auth = served
    svc = client.app.state.service
    monkeypatch.setattr(svc.gate, "wait_s", 0.3)
    client.portal.call(svc.gate.acquire)  # taken in the app's own loop, as a stream takes it
    try:
        with ThreadPoolExecutor(3) as pool:
            calls = [pool.submit(client.post, "/v1/ask/stream", json={"q": QUESTION}, headers=auth),
                     pool.submit(client.get, "/v1/search", params={"q": QUESTION}, headers=auth),
                     pool.submit(client.post, "/v1/ask", json={"q": QUESTION}, headers=auth)]
            refused = [c.result(timeout=20) for c in calls]
    finally:
        client.portal.call(svc.gate.release)
    for r in refused:
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json", r.text
        assert r.json()["title"] == "RequestTimeout" and "server.request_timeout_s = 0.3 s" in r.json()["detail"]
    assert client.post("/v1/ask/stream", json={"q": QUESTION}, headers=auth).status_code == 200


def test_a_stream_holds_the_gate_at_most_the_time_limit(served, monkeypatch):
    """An answer whose generation hangs ends its stream with an error naming the limit, and lets the gate go then,
    not when the generation ends (if ever)."""
    client, auth = served
    svc = client.app.state.service
    engine, hang = svc.collections.default, threading.Event()

    def stuck(question, mode=None, flt=None):
        yield {"type": "sentence", "text": "A first sentence."}
        hang.wait(30)
        yield {"type": "sentence", "text": "Too late."}

    monkeypatch.setattr(engine, "ask_stream", stuck)
    monkeypatch.setattr(svc.queries, "limit_s", 0.5)
    try:
        started = time.perf_counter()
        r = client.post("/v1/ask/stream", json={"q": QUESTION}, headers=auth)
        took = time.perf_counter() - started
        assert not client.portal.call(svc.gate.locked)
    finally:
        hang.set()
    assert r.status_code == 200 and "A first sentence." in r.text and "Too late." not in r.text, r.text
    assert "event: error" in r.text and "server.request_timeout_s = 0.5 s" in r.text and took < 10, (took, r.text)

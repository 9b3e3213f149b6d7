"""The API through a real server process on 127.0.0.1, as `ragship serve` runs it."""

import re
import time

import httpx
import pytest

from conftest import DATA
from serving import env_for, ingest, serving


@pytest.fixture(scope="module")
def server(tmp_path_factory, cache_dir):
    env = env_for(tmp_path_factory.mktemp("server-home"), cache_dir)
    ingest(env, DATA / "docs")
    with serving(env) as base:
        yield base


def test_healthz_names_the_live_version(server):
    assert httpx.get(f"{server}/healthz").json()["live_version"] == "v1"


def test_ask_get_returns_a_cited_answer(server):
    r = httpx.get(f"{server}/v1/ask", params={"q": "Who designed the harbour power station?"}, timeout=60)
    assert r.status_code == 200
    body = r.json()
    assert not body["abstained"] and "Ilse Brandvold" in body["answer"] and "[1]" in body["answer"]
    assert body["citations"][0]["doc_id"] == "docs/handbook/history.txt"


def test_ask_post(server):
    r = httpx.post(f"{server}/v1/ask", json={"question": "When are depot tours?"}, timeout=60)
    assert r.status_code == 200 and "Saturdays" in r.json()["answer"]


def test_search_get_and_post_agree(server):
    params = {"q": "guide dogs", "mode": "bm25", "k": 2}
    got = httpx.get(f"{server}/v1/search", params=params).json()
    posted = httpx.post(f"{server}/v1/search", json={"query": "guide dogs", "mode": "bm25", "k": 2}).json()
    assert [h["chunk_id"] for h in got["results"]] == [h["chunk_id"] for h in posted["results"]]
    assert got["results"][0]["doc_id"] == "docs/handbook/trams.md"


@pytest.mark.parametrize("method, path, kwargs, status", [
    ("GET", "/v1/search", {"params": {"q": ""}}, 422),
    ("GET", "/v1/search", {"params": {"q": "x", "mode": "fuzzy"}}, 422),
    ("GET", "/v1/search", {"params": {"q": "x", "k": 0}}, 422),
    ("POST", "/v1/ask", {"json": {}}, 422),
    ("POST", "/v1/ask", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
    ("GET", "/v1/nothing", {}, 404),
])
def test_errors_are_problem_json_without_traces(server, method, path, kwargs, status):
    r = httpx.request(method, f"{server}{path}", **kwargs)
    assert r.status_code == status
    body = r.json()
    assert "detail" in body and "Traceback" not in r.text


def test_page_and_assets_are_local(server):
    page = httpx.get(server).text
    assert "<form" in page and 'id="question"' in page
    for asset in re.findall(r'(?:src|href)="([^"#][^"]*)"', page):
        assert asset.startswith("/static/"), asset
        assert httpx.get(server + asset).status_code == 200
    script = httpx.get(f"{server}/static/app.js").text.replace("http://www.w3.org/2000/svg", "")  # a name, not a fetch
    assert not re.search(r"https?://", script)


def test_the_uis_modules_are_local_and_served_as_javascript(server):
    """Issue 50: the UI is native ES modules, no build step. A browser runs a module only if it is served as
    JavaScript (nosniff is set); every module app.js imports, followed through their imports, is one of ours, and
    none fetches from elsewhere."""
    todo, seen = re.findall(r'<script type="module" src="([^"]+)"', httpx.get(server).text), set()
    assert todo == ["/static/app.js"]
    while todo:
        path = todo.pop()
        seen.add(path)
        r = httpx.get(server + path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript"), path
        assert not re.search(r"https?://", r.text.replace("http://www.w3.org/2000/svg", "")), path
        todo += {f"/static/{m}" for m in re.findall(r'^import .* from "\./([\w.]+)";$', r.text, re.M)} - seen
    assert {"/static/ask.js", "/static/answer.js", "/static/markdown.js", "/static/api.js"} <= seen


def test_openapi_lists_the_routes(server):
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"/v1/search", "/v1/ask", "/healthz"} <= paths.keys()


def test_metrics_endpoint_counts_requests(server):
    httpx.get(f"{server}/v1/search", params={"q": "tram"})
    text = httpx.get(f"{server}/metrics").text
    assert 'ragship_request_seconds_count{route="/v1/search",status="200"}' in text


def test_a_broken_state_file_fails_readiness_not_liveness_and_the_open_version_keeps_serving(tmp_path, cache_dir):
    env = env_for(tmp_path / "home", cache_dir)
    ingest(env, DATA / "docs")
    with serving(env) as base:
        live = tmp_path / "home" / "index" / "LIVE"
        good = live.read_text()
        live.write_text(good[:7])  # truncated
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503 and "LIVE cannot be read" in ready.text and "doctor --repair" in ready.text
        search = httpx.get(f"{base}/v1/search", params={"q": "ferry"})  # the version it had open keeps serving
        assert search.status_code == 200 and search.json()["index_version"] == "v1"
        live.write_text(good)
        assert httpx.get(f"{base}/readyz").status_code == 200


def test_one_process_of_a_home_runs_the_scheduler_and_another_takes_over(tmp_path):
    from ragship.server.app import Leader

    class Scheduler:
        def __init__(self, runs):
            self.runs = runs
            runs.append(self)

        def shutdown(self, wait):
            self.runs.remove(self)

    runs: list = []
    first, second = (Leader(tmp_path / "scheduler.lock", lambda: Scheduler(runs), retry_s=0.05) for _ in range(2))
    first.start()
    second.start()
    time.sleep(0.3)
    assert len(runs) == 1  # two leaders (as two worker processes would be), one scheduler
    first.stop()
    deadline = time.monotonic() + 5
    while len(runs) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(runs) == 1  # the second took over
    second.stop()
    assert runs == []


def test_a_huge_query_string_gets_a_problem_not_a_protocol_error(server):
    """Issue 30 item 6: a 100k-character ?q= got uvicorn's text/plain 400."""
    import http.client
    from urllib.parse import urlsplit

    connection = http.client.HTTPConnection(urlsplit(server).netloc, timeout=60)  # httpx caps a URL at 64 kB
    connection.request("GET", "/v1/search?q=" + "x" * 100_000)
    r = connection.getresponse()
    assert r.status == 422 and r.getheader("content-type") == "application/problem+json", r.read()[:200]


def test_answers_stream_as_server_sent_events_over_http(server):
    """Over a real socket (in process, the stream is buffered by the test client): events arrive as SSE frames,
    the verified answer last."""
    with httpx.stream("POST", f"{server}/v1/ask/stream", json={"q": "When are depot tours?"}, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream") and r.headers["cache-control"] == "no-store"
        frames = [line for line in r.iter_lines() if line]
    assert frames[-2] == "event: answer" and "Saturdays" in frames[-1]


GUARDS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


def assert_guarded(r: httpx.Response) -> None:
    """Issue 48 finding 5: the browser's guards, and a CSP that runs only this origin's files."""
    assert {name: r.headers.get(name) for name in GUARDS} == GUARDS, r.url
    policy = dict((d.split(" ", 1) + [""])[:2] for d in r.headers["content-security-policy"].split("; "))
    assert policy["script-src"] == policy["style-src"] == policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == policy["base-uri"] == policy["object-src"] == "'none'"
    assert "unsafe" not in r.headers["content-security-policy"]


@pytest.mark.parametrize("method, path, kwargs, status", [
    ("GET", "/", {}, 200),
    ("GET", "/static/app.js", {}, 200),
    ("GET", "/static/vendor/swagger-ui-bundle.js", {}, 200),
    ("GET", "/docs", {}, 200),
    ("GET", "/openapi.json", {}, 200),
    ("GET", "/v1/me", {}, 200),
    ("GET", "/runbooks", {}, 200),
    ("GET", "/favicon.ico", {}, 200),
    ("GET", "/v1/nothing", {}, 404),
    ("GET", "/v1/search", {"params": {"q": ""}}, 422),
    ("POST", "/v1/search", {"content": b"{" + b" " * 70_000 + b"}", "headers": {"content-type": "application/json"}},
     413),  # answered by the BodyLimit guard, before any route
])
def test_every_response_carries_the_browsers_guards(server, method, path, kwargs, status):
    r = httpx.request(method, f"{server}{path}", **kwargs)
    assert r.status_code == status
    assert_guarded(r)


def test_an_unexpected_error_carries_the_guards_too(tmp_path, cache_dir):
    """Starlette answers a 500 outside every middleware: its problem carries the headers itself."""
    from fastapi.testclient import TestClient

    from conftest import make_engine
    from ragship.server.app import create_app

    app = create_app(make_engine(tmp_path / "home", cache_dir))

    @app.get("/boom")
    async def boom():
        raise RuntimeError("boom")

    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500 and "Traceback" not in r.text
    assert_guarded(r)


def test_pages_hold_no_inline_script_style_or_handler(server):
    """What the CSP would block (inline <script>, on* handlers, style attributes) is in no page: /docs starts
    Swagger UI from static/docs.js, not FastAPI's inline script."""
    for path in ("/", "/docs", "/runbooks", "/runbooks/service.md"):
        r = httpx.get(f"{server}{path}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), path
        assert not re.search(r"\s(on\w+|style)\s*=", r.text, re.IGNORECASE), path
    assert 'src="/static/docs.js"' in httpx.get(f"{server}/docs").text

"""What a team sees of the API (issue 30 items 4-10), in process: offline docs, no server paths, one name for
the query, problems for every error, feedback apart from the query limit, runbook links that open, paging,
OpenAI usage and ids, MCP errors and version."""

import json
import re

import pytest

from inprocess import call, teams_api
from ragship import __version__


@pytest.fixture(scope="module")
def api(tmp_path_factory, cache_dir):
    client, keys = teams_api(tmp_path_factory.mktemp("surface") / "home", cache_dir,
                             monitor={"runbook_base_url": "https://rag.example.com/runbooks"})
    with client:
        yield client, keys


def test_docs_are_served_from_the_package(api):
    client, _ = api
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not offered


def test_readers_never_see_server_paths(api):
    home = str(api[0].app.state.service.collections.default.home.root.resolve().parents[1])
    for path, params in [("/v1/search", {"q": "launch plan", "k": 5}), ("/v1/ask", {"q": "When is the launch?"}),
                         ("/v1/documents/teams/red/launch-plan.md", {})]:
        body = call(api, "admin", "GET", path, params=params).text
        assert "/work/" not in body and home not in body and '"path"' not in body, (path, body[:500])
    hit = call(api, "admin", "GET", "/v1/search", params={"q": "launch plan"}).json()["results"][0]
    assert hit["source"] in ("teams", "red")


@pytest.mark.parametrize("name", ["q", "query", "question"])
def test_one_name_for_the_query_everywhere(api, name):
    for path in ("/v1/search", "/v1/ask"):
        r = call(api, "reader-red", "POST", path, json={name: "launch plan"})
        assert r.status_code == 200, (path, name, r.text)
    schema = api[0].get("/openapi.json").json()["components"]["schemas"]
    assert "q" in schema["SearchRequest"]["properties"] and "q" in schema["AskRequest"]["properties"]


def test_every_error_is_a_problem_with_its_own_title(api):
    broken = call(api, "admin", "POST", "/v1/search", content=b'{"q": "x",,}',
                  headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["title"] == "Malformed JSON"
    assert "character" in broken.json()["detail"] and "body.17" not in broken.text
    big = call(api, "admin", "POST", "/v1/search", content=b'{"q": "' + b"x" * 100_000 + b'"}',
               headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and big.json()["error"]["code"] == 413
    for path, title in [("/v1/jobs/0123456789abcdef", "JobNotFound"), ("/v1/versions/v99/report", "VersionNotFound"),
                        ("/v1/search?q=x&collection=nope", "CollectionNotFound")]:
        r = call(api, "admin", "GET", path)
        assert r.status_code == 404 and r.json()["title"] == title, (path, r.text)
    r = call(api, "admin", "POST", "/v1/feedback", json={"answer_id": "nope", "rating": "up"})
    assert r.json()["title"] == "AnswerNotFound"


def test_feedback_is_not_starved_by_queries(tmp_path, cache_dir):
    client, keys = teams_api(tmp_path / "home", cache_dir, server={"rate_per_minute": 30, "burst": 10})
    with client:
        api = (client, keys)
        answers = [call(api, "reader-red", "GET", "/v1/ask", params={"q": f"launch {i}"}) for i in range(10)]
        assert call(api, "reader-red", "GET", "/v1/search", params={"q": "x"}).status_code == 429  # spent
        votes = [call(api, "reader-red", "POST", "/v1/feedback", json={"answer_id": a.json()["id"], "rating": "down"})
                 for a in answers]
        assert [v.status_code for v in votes] == [201] * 10


def test_alerts_link_to_runbooks_that_open(api):
    client, _ = api
    alerts = call(api, "admin", "GET", "/v1/monitor/alerts").json()["states"]
    links = {a["name"]: a["runbook"] for a in alerts}
    assert links["QueryDrift"] == "https://rag.example.com/runbooks/monitoring.md#querydrift"
    page = client.get("/runbooks/monitoring.md")
    assert page.status_code == 200 and 'id="querydrift"' in page.text and "<h2" in page.text
    assert client.get("/runbooks/../settings.py").status_code == 404
    assert client.get("/runbooks").status_code == 200


def test_documents_page_by_page_and_by_search(api):
    listed = call(api, "admin", "GET", "/v1/documents", params={"limit": 2, "offset": 2}).json()
    assert listed["total"] == 6 and len(listed["documents"]) == 2 and listed["offset"] == 2
    found = call(api, "admin", "GET", "/v1/documents", params={"q": "SALARIES"}).json()
    assert found["total"] == 1 and found["documents"][0]["doc_id"] == "teams/red/salaries.md"


def test_the_series_bucket_follows_the_traffic(api):
    call(api, "admin", "GET", "/v1/search", params={"q": "launch"})
    day = call(api, "admin", "GET", "/v1/monitor/series", params={"minutes": 1440}).json()
    assert day["bucket_s"] <= 60  # a few minutes of traffic: a line of points, not one dot a quarter-hour wide


def test_openai_usage_and_one_id_per_completion(api):
    body = {"model": "ragship", "messages": [{"role": "user", "content": "When is the launch?"}]}
    reply = call(api, "reader-red", "POST", "/v1/chat/completions", json=body).json()
    usage = reply["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    ids = []
    for _ in range(2):
        r = call(api, "reader-red", "POST", "/v1/chat/completions", json={**body, "stream": True})
        chunks = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
        assert len({c["id"] for c in chunks}) == 1 and chunks[-1]["usage"]["completion_tokens"] > 0
        ids.append(chunks[0]["id"])
    assert ids[0] != ids[1] and "chatcmpl-ragship" not in ids


def mcp(api, payload, raw=None):
    return call(api, "admin", "POST", "/mcp", content=raw if raw is not None else json.dumps(payload),
                headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})


def test_mcp_names_ragship_and_reports_errors_as_json_rpc(api):
    init = mcp(api, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).json()
    assert init["result"]["serverInfo"] == {"name": "ragship", "version": __version__} | {
        k: v for k, v in init["result"]["serverInfo"].items() if k not in ("name", "version")}
    missing = mcp(api, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                        "params": {"name": "search", "arguments": {}}}).json()
    text = missing["result"]["content"][0]["text"]
    assert missing["result"]["isError"] and "query: Field required" in text and "pydantic" not in text, text
    garbage = mcp(api, None, raw=b"this is not json")
    assert garbage.status_code in (200, 400) and garbage.json()["error"]["code"] == -32700, garbage.text

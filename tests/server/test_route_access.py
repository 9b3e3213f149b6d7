"""Issue 48: what each caller sees of another group's data, derived data included (review queue, jobs, incident
timelines and postmortems, collection counts, drift examples, gate losers, /metrics). First one test per finding,
then the matrix: every /v1 route and every MCP tool × admin, editor and reader of group A (red), reader of group B
(blue), recording what each returns about a document, a question and an upload job of group A. The table is
written under pytest's tmp dir and printed (`pytest -s`); RAGSHIP_WRITE_ACCESS_MATRIX=1 also writes
docs/access-matrix.md, which the test otherwise checks is current. The real app in process (tests/inprocess.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.routing import APIRoute

from inprocess import ask, call, teams_api, upload, wait_job
from ragship.access import LOCAL, Principal, answer_visible, job_visible, readable, sees, sources_for
from ragship.monitor.alerts import Alerts
from ragship.release.gate import Check, GateReport
from ragship.settings import AlertRule

MATRIX_DOC = Path(__file__).resolve().parents[2] / "docs" / "access-matrix.md"
WRITE_MATRIX = bool(os.environ.get("RAGSHIP_WRITE_ACCESS_MATRIX"))  # read at import: conftest clears RAGSHIP_*
CALLERS = ("admin", "editor-red", "reader-red", "reader-blue")  # A = red, B = blue
SECRET = "TOPAZ-LEDGER-6620"
FILE = "q3-results.md"
DOC = f"uploads/{FILE}"  # the admin's upload, given to red: group A's document
ASKED = "ZEPHYR"  # in every question editor-red asks: group A's questions
QUESTION = f"What revenue did the q3 results report, {ASKED}?"
DRIFT = AlertRule(name="QueryDrift", signal="query_drift_p", op="<", threshold=0.01, for_s=0, severity="warning",
                  runbook="docs/runbooks/monitoring.md#querydrift", summary="the queries changed")


@pytest.fixture(scope="module")
def world(tmp_path_factory, cache_dir):
    """The teams home with group A's document (an upload job), questions (rated, and enough for a drift report),
    a gate report whose losers are one of them, and an incident whose timeline holds the job and a traffic shift."""
    client, keys = teams_api(tmp_path_factory.mktemp("access") / "home", cache_dir,
                             monitor={"reference": 20, "recent": 20, "permutations": 100})
    with client:
        api = (client, keys)
        svc = client.app.state.service
        status, job = upload(api, "admin", {FILE: f"# Q3 results\n\nThe Q3 revenue was 12 million; the ledger "
                                                   f"code is {SECRET}.\n".encode()}, "red")
        assert job["status"] == "done", job
        asked = ask(api, "editor-red", QUESTION)
        admins = ask(api, "admin", "What was the Q3 revenue in the q3 results?")
        assert DOC in {c["doc_id"] for c in admins["citations"]}
        for key, answer in (("editor-red", asked), ("admin", admins)):
            assert call(api, key, "POST", "/v1/feedback", json={"answer_id": answer["id"], "rating": "down"}
                        ).status_code == 201
        for n in range(20):  # the drift reference, then recent questions nothing answers (drift topics)
            ask(api, "editor-blue", f"Where is the team handbook, part {n}?")
        for n in range(20):
            ask(api, "editor-red", f"{ASKED} quarkle {n} vrimp?")
        engine = svc.collections.default
        watched = engine.settings.sources[0].model_copy(update={"max_age": "1h"})
        svc.monitor.sync("default", watched)  # its age goes to /metrics
        live = engine.registry.live().id
        engine.releases()._keep(live, [GateReport(live, live, "production (heldout)",
                                                  [Check("ndcg@10", 0.9, 0.1, -0.8, 0.05, 0.01, 1, True)],
                                                  losers=[{"id": "q1", "query": QUESTION, "live": 0.9,
                                                           "candidate": 0.1}], at="now")])
        fired = Alerts(svc.log).evaluate("default", [DRIFT], {"query_drift_p": 0.001}, {"drift": {
            "query": {"p_value": 0.001}, "topics": [{"new_subject": True, "size": 5, "share_of_recent": 0.2,
                                                     "examples": [QUESTION]}]}}, deliver=False)
        yield {"api": api, "svc": svc, "job": job, "asked": asked, "admins": admins, "live": live,
               "incident": fired[0]["incident"]["id"], "tmp": tmp_path_factory.mktemp("matrix")}


# -- the rule, in access.py ------------------------------------------------------------------------------------
def test_the_access_rule_for_derived_data():
    red, blue = Principal("r", "editor", frozenset({"red"})), Principal("b", "editor", frozenset({"blue"}))
    assert readable(red, ["red", "x"]) and readable(red, []) and not readable(blue, ["red"]) and readable(LOCAL, ["x"])
    assert not sees(red, None) and sees(red, None, "r") and sees(LOCAL, None) and sees(red, ["red"])
    sources = [{"chunk_id": "c1", "doc_id": "a"}, {"chunk_id": "c2", "doc_id": "b"}]
    assert answer_visible(red, sources, {"c1": ["red"], "c2": []})
    assert not answer_visible(red, sources, {"c1": ["red"], "c2": ["blue"]})  # one unreadable source hides it
    assert not answer_visible(red, sources, {"c1": ["red"]})  # a chunk no longer live counts as unreadable
    assert answer_visible(LOCAL, sources, {})
    job = {"key_id": "k", "groups": ["red"]}
    assert job_visible(red, job) and not job_visible(blue, job) and job_visible(Principal("k", "editor", frozenset()),
                                                                                job)
    assert job_visible(blue, {"key_id": "k", "groups": []})  # a public upload
    stale = [{"source": "/data/red", "staleness": 2.0, "last_error": "EmptyCorpus: /data/red/q3.md: path not found"},
             {"source": "/data/public", "staleness": 0.1, "last_error": None}]
    seen = sources_for(blue, stale, {"/data/red": ["red"], "/data/public": []})  # the attack's GET /v1/monitor/signals
    assert "red" not in json.dumps(seen) and seen[0]["staleness"] == 2.0 and seen[1] == stale[1]
    assert sources_for(red, stale, {"/data/red": ["red"]}) == stale and sources_for(LOCAL, stale, {}) == stale


# -- finding 2: the review queue ---------------------------------------------------------------------------------
def test_the_review_queue_shows_an_answer_only_to_who_may_read_every_source(world):
    api, admins = world["api"], world["admins"]

    def queue(key):
        return call(api, key, "GET", "/v1/review", params={"queue": "all", "limit": 500}).json()["answers"]

    assert call(api, "editor-blue", "GET", f"/v1/documents/{DOC}").status_code == 404
    blue = json.dumps(queue("editor-blue"))
    assert admins["id"] not in blue and "Q3 revenue" not in blue and SECRET not in blue and ASKED not in blue
    red, every = {a["id"] for a in queue("editor-red")}, queue("admin")
    assert world["asked"]["id"] in red  # red's question: every source it retrieved is red's or public
    assert {admins["id"], world["asked"]["id"]} <= {a["id"] for a in every}
    within = {api[1][name][4:12] for name in ("reader-red", "editor-red", "editor-public")}  # read no more than red
    for a in every:  # shown to red exactly when no source that decides it (the cited ones, else all) is blue's and
        deciding = [s for s in a["sources"] if s["cited"]] or a["sources"]  # its asker reads nothing red may not
        readable = all(not s["doc_id"].startswith("teams/blue/") for s in deciding)
        assert (a["id"] in red) == (readable and a["asked_by"] in within), a["id"]
    assert admins["id"] not in red  # an admin's words may name what red may not read (access.words_visible)
    shown = json.dumps(queue("editor-red"))
    assert "teams/blue/" not in shown and "COBALT-HERON" not in shown  # nor a blue source of a shown answer


# -- finding 3: jobs, timelines and postmortems ----------------------------------------------------------------------
def test_another_groups_job_reads_as_missing(world):
    api, job = world["api"], world["job"]
    missing = call(api, "editor-blue", "GET", "/v1/jobs/0123456789abcdef")
    r = call(api, "editor-blue", "GET", f"/v1/jobs/{job['id']}")
    assert r.status_code == 404 and r.json()["detail"] == missing.json()["detail"].replace("0123456789abcdef",
                                                                                          job["id"])
    assert FILE not in r.text
    for key in ("admin", "editor-red", "reader-red"):
        assert call(api, key, "GET", f"/v1/jobs/{job['id']}").json()["results"][0]["doc_id"] == DOC
    assert call(api, "reader-blue", "GET", f"/v1/jobs/{job['id']}").status_code == 404


def test_timelines_and_postmortems_name_no_file_job_nor_question_outside_the_callers_groups(world):
    api, job, incident = world["api"], world["job"], world["incident"]
    blue = call(api, "editor-blue", "GET", f"/v1/incidents/{incident}").json()["timeline"]
    text = json.dumps(blue)
    assert job["id"] not in text and FILE not in text and ASKED not in text
    assert "an upload job of 1 file outside your groups queued" in [e["text"] for e in blue]
    assert [e for e in blue if e["kind"] == "traffic shift"] and all("private" not in e for e in blue)
    builds = [e["text"] for e in blue if e["kind"] == "build"]
    assert builds and not any("documents" in b for b in builds)  # the counts are every group's: not given
    red = json.dumps(call(api, "editor-red", "GET", f"/v1/incidents/{incident}").json()["timeline"])
    assert f"job {job['id']}" in red and ASKED not in red  # red may read the job, not the others' questions
    admin = json.dumps(call(api, "admin", "GET", f"/v1/incidents/{incident}").json()["timeline"])
    assert f"job {job['id']}" in admin and ASKED in admin and "documents," in admin  # a build line's counts
    draft = call(api, "editor-blue", "GET", f"/v1/incidents/{incident}/postmortem").json()
    for needle in (job["id"], FILE, ASKED):
        assert needle not in json.dumps(draft) and needle not in draft["markdown"]


# -- finding 4: counts and examples ----------------------------------------------------------------------------------
def test_counts_are_the_callers_view(world):
    api = world["api"]
    for key in CALLERS:
        listed = call(api, key, "GET", "/v1/documents", params={"limit": 1000}).json()["total"]
        counted = call(api, key, "GET", "/v1/collections").json()["collections"][0]["documents"]
        assert counted == listed, key
    assert call(api, "reader-blue", "GET", "/v1/collections").json()["collections"][0]["documents"] < \
        call(api, "admin", "GET", "/v1/collections").json()["collections"][0]["documents"]


def test_example_questions_reach_only_who_reads_everything(world):
    api, live = world["api"], world["live"]
    drift = call(api, "admin", "GET", "/v1/monitor/drift").json()
    assert drift["status"] == "measured" and ASKED in json.dumps(drift["topics"])
    blue = call(api, "editor-blue", "GET", "/v1/monitor/drift").json()
    assert blue["topics"] and ASKED not in json.dumps(blue) and all(t["examples_hidden"] for t in blue["topics"])
    report = call(api, "editor-blue", "GET", f"/v1/versions/{live}/report").json()
    assert report["reports"][0]["losers"][0]["query"] is None and QUESTION not in report["markdown"]
    assert "outside your groups" in report["markdown"]
    assert QUESTION in call(api, "admin", "GET", f"/v1/versions/{live}/report").json()["markdown"]
    for key in ("editor-blue", "editor-red"):
        assert ASKED not in call(api, key, "GET", "/v1/monitor/alerts").text
    assert ASKED in call(api, "admin", "GET", "/v1/monitor/alerts").text


def test_metrics_carry_no_path_nor_document_id(world):
    text = call(world["api"], "reader-blue", "GET", "/metrics").text
    assert "ragship_source_age_seconds{" in text
    for needle in ("teams/", "uploads/", "/red", "/blue", ".md"):
        assert needle not in text, needle


# -- must show 3: every route × four callers ---------------------------------------------------------------------
def probes(w) -> tuple[dict[tuple[str, str], tuple[str, dict]], dict[tuple[str, str], tuple[str, dict]]]:
    """The reads and the writes: (method, route) -> (path, request kwargs); writes run last, in this order, each
    leaving the world as the next needs it."""
    q = {"q": "What was the q3 revenue?"}
    chat = {"model": "ragship", "messages": [{"role": "user", "content": q["q"]}]}
    v, i, job = w["live"], w["incident"], w["job"]["id"]
    return {
        ("GET", "/metrics"): ("/metrics", {}),
        ("GET", "/v1/me"): ("/v1/me", {}),
        ("GET", "/v1/documents"): ("/v1/documents", {"params": {"limit": 1000}}),
        ("GET", "/v1/documents/{doc_id:path}"): (f"/v1/documents/{DOC}", {}),
        ("GET", "/v1/jobs/{job_id}"): (f"/v1/jobs/{job}", {}),
        ("GET", "/v1/versions"): ("/v1/versions", {}),
        ("GET", "/v1/versions/{version_id}/report"): (f"/v1/versions/{v}/report", {}),
        ("GET", "/v1/collections"): ("/v1/collections", {}),
        ("GET", "/v1/monitor/series"): ("/v1/monitor/series", {}),
        ("GET", "/v1/monitor/signals"): ("/v1/monitor/signals", {}),
        ("GET", "/v1/monitor/drift"): ("/v1/monitor/drift", {}),
        ("GET", "/v1/monitor/alerts"): ("/v1/monitor/alerts", {}),
        ("GET", "/v1/incidents"): ("/v1/incidents", {}),
        ("GET", "/v1/incidents/{incident_id}"): (f"/v1/incidents/{i}", {}),
        ("GET", "/v1/incidents/{incident_id}/postmortem"): (f"/v1/incidents/{i}/postmortem", {}),
        ("GET", "/v1/review"): ("/v1/review", {"params": {"limit": 500}}),
        ("GET", "/v1/improve"): ("/v1/improve", {}),
        ("GET", "/v1/history"): ("/v1/history", {}),
        ("GET", "/v1/feedback/export"): ("/v1/feedback/export", {}),
        ("GET", "/v1/gaps"): ("/v1/gaps", {}),
        ("GET", "/v1/conversations"): ("/v1/conversations", {}),
        ("GET", "/v1/conversations/{conversation_id}"): (f"/v1/conversations/{w['asked']['conversation_id']}", {}),
        # questions last among the reads: they move the drift report's recent window
        ("GET", "/v1/search"): ("/v1/search", {"params": q}),
        ("POST", "/v1/search"): ("/v1/search", {"json": q}),
        ("GET", "/v1/ask"): ("/v1/ask", {"params": q}),
        ("POST", "/v1/ask"): ("/v1/ask", {"json": q}),
        ("POST", "/v1/ask/stream"): ("/v1/ask/stream", {"json": q}),
        ("GET", "/v1/models"): ("/v1/models", {}),
        ("POST", "/v1/chat/completions"): ("/v1/chat/completions", {"json": chat}),
    }, {
        ("POST", "/v1/versions/{version_id}/promote"): (f"/v1/versions/{v}/promote", {"json": {}}),  # live: 400
        ("POST", "/v1/versions/rollback"): ("/v1/versions/rollback", {"params": {"version": v}}),  # live: 400
        ("POST", "/v1/collections"): ("/v1/collections", {"json": {"name": "probe"}}),
        ("DELETE", "/v1/collections/{name}"): ("/v1/collections/probe", {}),
        ("POST", "/v1/monitor/drift/reset"): ("/v1/monitor/drift/reset", {}),
        ("POST", "/v1/incidents"): ("/v1/incidents", {"json": {"title": "probe"}}),
        ("POST", "/v1/incidents/{incident_id}/ack"): (f"/v1/incidents/{i}/ack", {}),
        ("POST", "/v1/incidents/{incident_id}/resolve"): (f"/v1/incidents/{i}/resolve", {"json": {}}),
        ("POST", "/v1/feedback"): ("/v1/feedback", {"json": {"answer_id": w["asked"]["id"], "rating": "down"}}),
        ("POST", "/v1/documents"): ("/v1/documents", {"files": {"files": ("note.md", b"# Note\n\nA note.\n")}}),
        ("DELETE", "/v1/documents/{doc_id:path}"): (f"/v1/documents/{DOC}", {}),  # restored after each delete
    }


def seen(w, body: str) -> list[str]:
    """Which of group A's document, question and job a response body shows."""
    marks = {"doc": (SECRET, DOC), "question": (ASKED,), "job": (w["job"]["id"],)}
    return [name for name, needles in marks.items() if any(n in body for n in needles)]


def cell(w, status: int, body: str) -> str:
    if status >= 300:
        return str(status)
    found = seen(w, body)
    return f"{status} shows {', '.join(found)}" if found else f"{status} without them"


def mcp_call(api, key, tool: str, arguments: dict) -> tuple[int, str]:
    r = call(api, key, "POST", "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                             "params": {"name": tool, "arguments": arguments}},
             headers={"Accept": "application/json, text/event-stream"})
    result = r.json().get("result", {})
    return (404 if result.get("isError") else r.status_code), json.dumps(result)


MCP_ARGS = {"search": {"query": "What was the q3 revenue?"}, "ask": {"question": "What was the q3 revenue?"},
            "list_documents": {}, "get_document": {"doc_id": DOC}}

def api_routes(routes) -> Iterator[APIRoute]:
    """Every APIRoute below `routes`: FastAPI 0.165 keeps an included router as one entry (`original_router`), so
    the routes by resource (issue 50) were out of sight of the check that every route is probed."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def matrix(w) -> dict[str, dict[str, str]]:
    api = w["api"]
    app = api[0].app
    routes = {(m, r.path) for r in api_routes(app.routes) if r.path.startswith("/v1") or r.path == "/metrics"
              for m in r.methods}
    reads, writes = probes(w)
    assert routes - set(reads) - set(writes) == set(), "a route the matrix does not probe: add it to probes()"
    table: dict[str, dict[str, str]] = {}
    tools = {t["name"] for t in call(api, "admin", "POST", "/mcp", json={"jsonrpc": "2.0", "id": 1,
                                                                          "method": "tools/list"},
                                     headers={"Accept": "application/json, text/event-stream"}).json()[
        "result"]["tools"]}
    assert tools == set(MCP_ARGS), "an MCP tool the matrix does not probe: add it to MCP_ARGS"
    for (method, route), (path, kwargs) in [*reads.items(), (("MCP", ""), ("", {})), *writes.items()]:
        if method == "MCP":
            for tool, arguments in MCP_ARGS.items():
                table[f"MCP {tool}"] = {key: cell(w, *mcp_call(api, key, tool, arguments)) for key in CALLERS}
            continue
        row = table.setdefault(f"{method} {route}", {})
        for key in CALLERS:
            r = call(api, key, method, path, **kwargs)
            row[key] = cell(w, r.status_code, r.text)
            if r.status_code >= 300:  # a refusal shows nothing but what the caller sent
                echoed = r.text
                for part in sorted({path, path.split("/", 3)[-1], *path.split("/")}, key=len, reverse=True):
                    echoed = echoed.replace(part, "") if part else echoed
                assert not seen(w, echoed), (method, route, key, r.text)
            if r.status_code == 202:  # an upload: its job done before the next call
                wait_job(api, key, r.json()["id"])
            if method == "DELETE" and route.startswith("/v1/documents") and r.status_code == 200:
                assert upload(api, "admin", {FILE: f"# Q3 results\n\nThe ledger code is {SECRET}.\n".encode()},
                              "red")[1]["status"] == "done"
    return table


def markdown(table: dict[str, dict[str, str]]) -> str:
    lines = ["# Who sees what of group A's data", "",
             "Generated by `tests/server/test_route_access.py` (`RAGSHIP_WRITE_ACCESS_MATRIX=1 pytest "
             "tests/server/test_route_access.py` rewrites it): every `/v1` route and MCP tool called by four keys, "
             "and what each response shows of a document (`doc`), a question (`question`) and an upload job "
             "(`job`) of group A (red): \"200 shows doc\", \"200 without them\", or the refusal's status. Writes "
             "run last, on harmless targets (the live version, a probe collection); a deleted document is uploaded "
             "again. ADR 0010 states the rule.", "",
             "| route | " + " | ".join(CALLERS) + " |", "|---|" + "---|" * len(CALLERS)]
    lines += [f"| `{route}` | " + " | ".join(row[k] for k in CALLERS) + " |" for route, row in table.items()]
    return "\n".join(lines) + "\n"


OWN_QUESTIONS = ("GET /v1/review", "GET /v1/history", "GET /v1/feedback/export", "GET /v1/gaps",
                 "GET /v1/conversations", "GET /v1/conversations/{conversation_id}")


def test_the_learning_routes_show_red_its_own_questions_and_blue_none(world):
    """Issue 49 finding 11: the question history, the feedback export and the questions the documents fail to
    answer hold red's questions for red (its own: the editor asked them), none of them for blue."""
    api = world["api"]
    for path in ("/v1/history", "/v1/feedback/export", "/v1/gaps"):
        assert ASKED in call(api, "editor-red", "GET", path).text, path
        assert ASKED not in call(api, "editor-blue", "GET", path).text, path
    gaps = call(api, "editor-blue", "GET", "/v1/gaps").json()
    assert gaps["hidden"] >= 20 and ASKED in call(api, "admin", "GET", "/v1/gaps").text


def test_every_route_and_tool_by_four_callers(world):
    started = time.monotonic()
    table = matrix(world)
    text = markdown(table)
    (world["tmp"] / "access-matrix.md").write_text(text)
    print("\n" + text)
    for route, row in table.items():
        assert "shows" not in row["reader-blue"], (route, row)  # B never sees A's document, question or job
        assert "question" not in row["reader-red"], (route, row)
        if route not in OWN_QUESTIONS:  # where red's own questions are red's to see: others' only to an admin
            assert "question" not in row["editor-red"], (route, row)
    for route in ("GET /v1/documents/{doc_id:path}", "GET /v1/search", "POST /v1/ask", "MCP get_document"):
        assert [table[route][k] for k in CALLERS] == ["200 shows doc"] * 3 + [table[route]["reader-blue"]], route
    assert table["GET /v1/jobs/{job_id}"] == {**dict.fromkeys(CALLERS[:3], "200 shows doc, job"), "reader-blue": "404"}
    for route in ("GET /v1/incidents/{incident_id}", "GET /v1/incidents/{incident_id}/postmortem"):
        assert table[route] == {"admin": "200 shows question, job", "editor-red": "200 shows job",
                                "reader-red": "403", "reader-blue": "403"}, route
    for route in ("GET /v1/versions/{version_id}/report", "GET /v1/monitor/alerts", "GET /v1/monitor/drift"):
        assert table[route]["admin"] == "200 shows question" and table[route]["editor-red"] == "200 without them"
    if WRITE_MATRIX:
        MATRIX_DOC.write_text(text)
    else:
        assert MATRIX_DOC.read_text() == text, "the matrix changed: RAGSHIP_WRITE_ACCESS_MATRIX=1 rewrites it"
    assert time.monotonic() - started < 120

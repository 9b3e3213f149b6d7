"""The service with keys: roles, permissions, documents and jobs, feedback, limits, collections, streaming.
The real app in process (tests/inprocess.py) over a home with red/blue/public documents; CLI commands run
against the same home (tests/server/test_app.py and test_replicas.py start real server processes)."""

import json
import sqlite3
import time

import pytest

from inprocess import teams_service
from serving import create_key, ragship

CALLERS = {"red": ("reader", "red"), "blue": ("reader", "blue"), "both": ("reader", "red,blue"),
           "public": ("reader", ""), "editor": ("editor", "red"), "admin": ("admin", "")}


@pytest.fixture(scope="module")
def svc(tmp_path_factory, cache_dir):
    with teams_service(tmp_path_factory.mktemp("service"), cache_dir, CALLERS) as service:
        yield service


def call(svc, method, path, key=None, **kwargs):
    client, keys, _ = svc
    headers = {"Authorization": f"Bearer {keys[key]}"} if key else {}
    return client.request(method, path, headers=headers | kwargs.pop("headers", {}), **kwargs)


def wait_job(svc, job_id, key):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = call(svc, "GET", f"/v1/jobs/{job_id}", key).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    pytest.fail(f"job {job_id} did not finish: {job}")


def test_every_api_route_needs_a_key_once_one_exists(svc):
    for method, path in [("GET", "/v1/search?q=launch"), ("GET", "/v1/ask?q=launch"), ("GET", "/v1/documents"),
                         ("GET", "/v1/versions"), ("GET", "/v1/collections"), ("GET", "/v1/me"),
                         ("GET", "/metrics")]:
        r = call(svc, method, path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
        assert r.headers["content-type"] == "application/problem+json"
        bad = svc[0].request(method, path, headers={"Authorization": "Bearer rsk_00000000_nope"})
        assert bad.status_code == 401
    assert call(svc, "GET", "/healthz").status_code == 200  # probes stay open
    assert call(svc, "GET", "/metrics", "public").status_code == 200  # a scrape sends a key


def test_roles(svc):
    assert call(svc, "GET", "/v1/versions", "red").status_code == 403
    assert call(svc, "GET", "/v1/versions", "editor").status_code == 200
    assert call(svc, "POST", "/v1/collections", "editor", json={"name": "x"}).status_code == 403
    assert call(svc, "DELETE", "/v1/documents/teams/public/faq.md", "red").status_code == 403
    key_id = svc[1]["both"].split("_")[1]  # rsk_ID_SECRET
    assert call(svc, "GET", "/v1/me", "both").json() == {"key_id": key_id, "role": "reader", "groups": ["blue", "red"]}


def test_search_and_ask_see_only_permitted_documents(svc):
    for key, allowed in [("red", {"red", "public"}), ("blue", {"blue", "public"}), ("public", {"public"}),
                         ("both", {"red", "blue", "public"}), ("admin", {"red", "blue", "public"})]:
        hits = call(svc, "GET", "/v1/search", key, params={"q": "launch billing relay", "k": 50}).json()["results"]
        assert {h["doc_id"].split("/")[1] for h in hits} == allowed, key
        docs = call(svc, "GET", "/v1/documents", key).json()["documents"]
        assert {d["doc_id"].split("/")[1] for d in docs} == allowed, key


def test_metadata_filters_through_the_api(svc):
    r = call(svc, "POST", "/v1/search", "both", json={"query": "launch", "filters": {"team": "blue"}, "k": 20})
    assert {h["doc_id"].split("/")[1] for h in r.json()["results"]} == {"blue"}
    r = call(svc, "GET", "/v1/search", "red", params={"q": "launch", "filter": "team=blue"})
    assert r.status_code == 200 and r.json()["results"] == []
    assert call(svc, "GET", "/v1/search", "red", params={"q": "x", "filter": "no-equals"}).status_code == 422


def test_a_document_the_reader_may_not_see_is_indistinguishable_from_none(svc):
    hidden = call(svc, "GET", "/v1/documents/teams/blue/migration.md", "red")
    missing = call(svc, "GET", "/v1/documents/teams/blue/nothing.md", "red")
    assert hidden.status_code == missing.status_code == 404
    assert "migration" not in hidden.text and "AZURE" not in hidden.text
    doc = call(svc, "GET", "/v1/documents/teams/blue/migration.md", "blue").json()
    assert "AZURE-OTTER-5183" in doc["text"]
    for c in doc["chunks"]:
        assert doc["text"][c["start"]:c["end"]].strip()


def test_ask_answers_and_feedback_refers_to_the_answer(svc):
    answer = call(svc, "GET", "/v1/ask", "blue", params={"q": "When does the billing database move?"}).json()
    assert not answer["abstained"] and answer["citations"][0]["doc_id"] == "teams/blue/migration.md"
    up = call(svc, "POST", "/v1/feedback", "blue", json={"answer_id": answer["id"], "rating": "up", "comment": "ok"})
    assert up.status_code == 201
    down = {"answer_id": answer["id"], "rating": "down"}
    assert call(svc, "POST", "/v1/feedback", "red", json=down).status_code == 404
    assert call(svc, "POST", "/v1/feedback", "blue", json={"answer_id": "nope", "rating": "up"}).status_code == 404
    assert 'ragship_feedback_total{rating="up"}' in call(svc, "GET", "/metrics", "public").text
    series = call(svc, "GET", "/v1/monitor/series", "editor").json()["series"]
    assert sum(b["up"] for b in series) >= 1 and sum(b["answered"] for b in series) >= 1


def test_ask_streams_server_sent_events(svc):
    client, keys, _ = svc
    with client.stream("POST", "/v1/ask/stream", json={"question": "What is the red relay codename?"},
                       headers={"Authorization": f"Bearer {keys['red']}"}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data:")]
    assert events[-1]["type"] == "answer" and "CRIMSON-KESTREL-4471" in events[-1]["answer"]["answer"]
    assert all(e["type"] in ("sentence", "answer") for e in events)  # extractive: the answer event only


def test_upload_runs_a_job_then_delete_removes_it_at_once(svc, tmp_path):
    note = tmp_path / "ferry-note.md"
    note.write_text("# Ferry note\n\nThe red ferry to Quillon island leaves at 6:40 every weekday.\n")
    r = call(svc, "POST", "/v1/documents", "editor", files={"files": (note.name, note.read_bytes(), "text/markdown")},
             data={"groups": "red"})
    assert r.status_code == 202, r.text
    job = wait_job(svc, r.json()["id"], "editor")
    doc_id = f"uploads/{svc[1]['editor'].split('_')[1]}/ferry-note.md"  # an editor writes in its key's namespace
    assert job["status"] == "done" and job["results"][0]["doc_id"] == doc_id, job
    q = {"q": "Quillon island ferry", "k": 3}
    assert call(svc, "GET", "/v1/search", "red", params=q).json()["results"][0]["doc_id"] == doc_id
    assert doc_id not in {h["doc_id"] for h in call(svc, "GET", "/v1/search", "blue", params=q).json()["results"]}
    d = call(svc, "DELETE", f"/v1/documents/{doc_id}", "editor")
    assert d.status_code == 200
    for key in ("red", "admin"):
        assert doc_id not in {h["doc_id"] for h in call(svc, "GET", "/v1/search", key, params=q).json()["results"]}
    assert call(svc, "GET", f"/v1/documents/{doc_id}", "admin").status_code == 404


def test_upload_checks_type_size_and_groups(svc):
    r = call(svc, "POST", "/v1/documents", "editor", files={"files": ("x.exe", b"MZ", "application/octet-stream")})
    assert r.status_code == 415 and ".md" in r.json()["detail"]
    r = call(svc, "POST", "/v1/documents", "editor", files={"files": ("n.md", b"# x\n\nhello", "text/markdown")},
             data={"groups": "blue"})
    assert r.status_code == 403  # an editor in red cannot give documents to blue
    bad = call(svc, "POST", "/v1/documents", "editor", files={"files": ("bad.pdf", b"not a pdf", "application/pdf")})
    job = wait_job(svc, bad.json()["id"], "editor")
    assert job["status"] == "failed" and "PDF" in job["failures"][0]["reason"]


def test_every_limit_is_a_413_or_422_naming_the_limit(svc):
    json_type = {"content-type": "application/json"}
    for response, status, named in [
        (call(svc, "POST", "/v1/search", "red", content=b"{" + b" " * 70_000 + b"}", headers=json_type), 413,
         "65,536-byte limit"),
        (call(svc, "POST", "/v1/search", "red", content=b'{"query": ' + b"[" * 40 + b"]" * 40 + b"}",
              headers=json_type), 422, "deeper than 32 levels"),
        (call(svc, "GET", "/v1/search", "red", params={"q": "x" * 2001}), 422, "at most 2000 characters"),
        (call(svc, "GET", "/v1/search", "red", params={"q": "x", "k": 1001}), 422, "less than or equal to 1000"),
        (call(svc, "GET", "/v1/search", "red", params={"q": "x", "filter": "team=" + ",".join("abcdefghijklmnopq"
                                                                                          * 10)}), 422, "the limit is"),
        (call(svc, "POST", "/v1/documents", "editor", files=[("files", (f"{i}.md", b"# x")) for i in range(21)]),
         413, "at most 20 per upload"),
    ]:
        assert response.status_code == status and named in response.json()["detail"], response.text
    ok = call(svc, "POST", "/v1/search", "red", json={"query": "launch [1] {x}", "k": 3})  # brackets in text
    assert ok.status_code == 200


def test_collections_have_their_own_index(svc, tmp_path):
    r = call(svc, "POST", "/v1/collections", "admin", json={"name": "notes", "settings": {"search": {"top_k": 3}}})
    assert r.status_code == 201 and r.json()["live_version"] is None
    assert call(svc, "POST", "/v1/collections", "admin", json={"name": "notes"}).status_code == 409
    assert call(svc, "POST", "/v1/collections", "admin", json={"name": "Bad Name"}).status_code == 400
    note = tmp_path / "kiln.md"
    note.write_text("# Kiln\n\nThe pottery kiln fires at 1240 degrees on Thursdays.\n")
    job = call(svc, "POST", "/v1/documents", "admin", files={"files": (note.name, note.read_bytes())},
               data={"collection": "notes"}).json()
    assert wait_job(svc, job["id"], "admin")["status"] == "done"
    hits = call(svc, "GET", "/v1/search", "admin", params={"q": "pottery kiln", "collection": "notes"}).json()
    assert [h["doc_id"] for h in hits["results"]] == ["uploads/kiln.md"]
    assert "uploads/kiln.md" not in {h["doc_id"] for h in call(svc, "GET", "/v1/search", "admin",
                                                               params={"q": "pottery kiln"}).json()["results"]}
    assert call(svc, "GET", "/v1/search", "admin", params={"q": "x", "collection": "nope"}).status_code == 404
    assert call(svc, "DELETE", "/v1/collections/notes", "admin").status_code == 200


def test_rate_limit_answers_429_with_retry_after(tmp_path, cache_dir):
    with teams_service(tmp_path, cache_dir, {"r": ("reader", "")}, "[server]\nrate_per_minute = 6\nburst = 3\n") \
            as (client, keys, _):
        codes = [client.get("/v1/me", headers={"Authorization": f"Bearer {keys['r']}"}) for _ in range(5)]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200] and codes[-1].status_code == 429
    assert int(codes[-1].headers["retry-after"]) >= 1


def test_serve_refuses_a_public_bind_without_keys(tmp_path, cache_dir):
    import subprocess
    import sys

    from serving import env_for

    env = env_for(tmp_path / "home", cache_dir)
    r = subprocess.run([sys.executable, "-m", "ragship", "serve", "--host", "0.0.0.0", "--port", "1"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "refusing to serve on 0.0.0.0 without API keys" in r.stderr


def test_keys_are_stored_hashed_and_revocable(svc):
    client, keys, env = svc
    with sqlite3.connect(env["RAGSHIP_HOME"] + "/state.sqlite") as db:
        stored = db.execute("SELECT * FROM ragship_keys").fetchall()
    assert len(stored) >= len(keys) and all(len(k[1]) == 64 and "rsk_" not in json.dumps(k) for k in stored)
    extra = create_key(env, "reader", "red")  # made outside the service (its own State), as the CLI would
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {extra}"}).status_code == 200
    key_id = extra.split("_")[1]
    ragship(env, "keys", "revoke", key_id)
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {extra}"}).status_code == 401


def test_a_review_marks_sources_and_the_queue_shows_only_what_the_editor_may_read(svc):
    """Issue 33: feedback carries marks, expected and a correction; editors (not readers) review anyone's answer;
    the review queue shows a source's text only where the editor may read its document."""
    answer = call(svc, "GET", "/v1/ask", "blue", params={"q": "When does the billing database move?"}).json()
    chunk = answer["citations"][0]["chunk_id"]
    down = call(svc, "POST", "/v1/feedback", "blue", json={"answer_id": answer["id"], "rating": "down"})
    assert down.status_code == 201
    review = {"answer_id": answer["id"], "marks": {chunk: "helpful"}, "expected": "answer",
              "correction": "in the spring"}
    assert call(svc, "POST", "/v1/feedback", "both", json=review).status_code == 404  # a reader: not theirs
    assert call(svc, "POST", "/v1/feedback", "admin", json=review).status_code == 201
    empty = call(svc, "POST", "/v1/feedback", "admin", json={"answer_id": answer["id"]})
    assert empty.status_code == 422 and "rating, marks" in empty.text
    assert call(svc, "GET", "/v1/review", "blue").status_code == 403
    queued = {a["id"]: a for a in call(svc, "GET", "/v1/review", "admin", params={"queue": "down", "status": "all"}
                                       ).json()["answers"]}
    assert queued[answer["id"]]["votes"] == 2 and queued[answer["id"]]["sources"][0]["text"]
    red_editor = {a["id"]: a for a in call(svc, "GET", "/v1/review", "editor", params={"queue": "down",
                                                                                       "status": "all"}).json()[
        "answers"]}
    assert answer["id"] not in red_editor  # it cites blue's document: not the red editor's to read (issue 48)
    assert call(svc, "GET", "/v1/improve", "editor").json()["runs"] == []

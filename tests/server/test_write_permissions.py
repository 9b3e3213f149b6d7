"""Every write route × every role × groups: a key writes only what its role allows, and never over a document
its groups may not read. In process (FastAPI's TestClient over the real app, jobs and index), so the matrix
costs no server start."""

import pytest

from inprocess import CALLERS, call, teams_api, text_of, upload

FINANCE = b"# Finance\n\nThe budget code is EMERALD-FALCON-2231.\n"


@pytest.fixture
def api(tmp_path, cache_dir):
    client, keys = teams_api(tmp_path / "home", cache_dir)
    with client:
        yield client, keys


def test_an_upload_never_replaces_a_document_its_key_may_not_read(api):
    """Issue 30 item 1: an editor uploading `finance.md` replaced the admin's finance-only `finance.md`."""
    assert upload(api, "admin", {"finance.md": FINANCE}, "red")[1]["status"] == "done"
    for editor in ("editor-blue", "editor-public", "editor-red"):
        status, job = upload(api, editor, {"finance.md": f"# Finance\n\n{editor} was here.\n".encode()})
        assert status == 202 and job["status"] == "done", job
        assert job["results"][0]["doc_id"] != "uploads/finance.md"
    assert "EMERALD-FALCON-2231" in text_of(api, "reader-red", "uploads/finance.md")  # the admin's, intact
    assert text_of(api, "reader-blue", "uploads/finance.md") is None  # and still red's only
    assert text_of(api, "editor-public", "uploads/finance.md") is None
    ids = {d["doc_id"] for d in call(api, "admin", "GET", "/v1/documents", params={"limit": 1000}).json()["documents"]}
    assert sum(i.endswith("/finance.md") for i in ids) == 4  # the admin's and one per editor


def test_a_key_replaces_its_own_upload(api):
    _, first = upload(api, "editor-red", {"plan.md": b"# Plan\n\nFirst draft: ONYX-PLOVER-1.\n"})
    _, second = upload(api, "editor-red", {"plan.md": b"# Plan\n\nSecond draft: ONYX-PLOVER-2.\n"})
    doc_id = second["results"][0]["doc_id"]
    assert doc_id == first["results"][0]["doc_id"]
    assert "ONYX-PLOVER-2" in text_of(api, "reader-red", doc_id) and "ONYX-PLOVER-1" not in text_of(
        api, "reader-red", doc_id)


# (method, path, body) of every route that writes, and the least role it needs
WRITES = [
    ("POST", "/v1/documents", {"files": {"files": ("x.md", b"# X\n\nx\n")}}, "editor"),
    ("DELETE", "/v1/documents/teams/public/faq.md", {}, "editor"),
    ("POST", "/v1/collections", {"json": {"name": "probe"}}, "admin"),
    ("DELETE", "/v1/collections/probe", {}, "admin"),
    ("POST", "/v1/versions/v1/promote", {"json": {}}, "admin"),
    ("POST", "/v1/versions/rollback", {}, "admin"),
    ("POST", "/v1/monitor/drift/reset", {}, "admin"),
]
RANK = {"reader": 0, "editor": 1, "admin": 2}


@pytest.mark.parametrize("name, role, groups", CALLERS)
def test_every_write_route_needs_its_role(api, name, role, groups):
    for method, path, kwargs, needs in WRITES:
        r = call(api, name, method, path, **kwargs)
        if RANK[role] < RANK[needs]:
            assert r.status_code == 403 and r.json()["title"] == "Forbidden", (method, path, r.text)
        else:
            assert r.status_code != 403, (method, path, r.text)


@pytest.mark.parametrize("editor, other", [("editor-red", "blue"), ("editor-blue", "red"),
                                           ("editor-public", "red"), ("editor-public", "blue")])
def test_an_editor_cannot_delete_nor_learn_of_another_groups_document(api, editor, other):
    target = f"teams/{other}/{'salaries.md' if other == 'red' else 'incident.md'}"
    missing = call(api, editor, "DELETE", "/v1/documents/teams/nowhere.md")
    r = call(api, editor, "DELETE", f"/v1/documents/{target}")
    assert r.status_code == 404 and r.json()["detail"] == missing.json()["detail"]
    assert text_of(api, "admin", target) is not None

"""Holes found by the stop-55 attack with an editor key of group blue, kept as regression tests of the fixes
(access.incident_for): an incident's title and notes are its writers' words, read only by callers who may read
them (as the review queue's questions), and an incident another group opened can be neither read nor closed."""

from __future__ import annotations

import json


from inprocess import call

SECRET = "Nightjar data room leaked to Hollowbrook"


def _listed(api, caller: str) -> list[str]:
    return [i["id"] for i in call(api, caller, "GET", "/v1/incidents").json()["incidents"]]


def test_an_incident_another_group_opened_is_neither_read_nor_closed(api):
    opened = call(api, "editor-red", "POST", "/v1/incidents", json={"title": SECRET}).json()
    assert opened["id"] not in _listed(api, "editor-blue")
    for method, path in (("GET", ""), ("GET", "/postmortem"), ("POST", "/ack")):
        r = call(api, "editor-blue", method, f"/v1/incidents/{opened['id']}{path}")
        assert r.status_code == 404 and "Nightjar" not in r.text, (path, r.text)
    r = call(api, "editor-blue", "POST", f"/v1/incidents/{opened['id']}/resolve", json={"note": "false alarm"})
    assert r.status_code == 404
    assert call(api, "admin", "GET", f"/v1/incidents/{opened['id']}").json()["status"] == "open"  # untouched
    assert opened["id"] in _listed(api, "editor-red") and opened["id"] in _listed(api, "admin")


def test_notes_another_group_wrote_on_a_shared_incident_are_not_read(api):
    shared = call(api, "editor-public", "POST", "/v1/incidents", json={"title": "Answers are slow"}).json()
    call(api, "editor-red", "POST", f"/v1/incidents/{shared['id']}/ack")
    call(api, "editor-red", "POST", f"/v1/incidents/{shared['id']}/resolve", json={"note": f"fixed: {SECRET}"})
    seen = call(api, "editor-blue", "GET", f"/v1/incidents/{shared['id']}").json()
    assert seen["title"] == "Answers are slow" and seen["status"] == "resolved"
    assert "Nightjar" not in json.dumps(seen) and "editor-red" not in json.dumps(seen)
    assert [e["by"] for e in seen["entries"]][1:] == ["a key of other groups"] * 2, seen["entries"]
    draft = call(api, "editor-blue", "GET", f"/v1/incidents/{shared['id']}/postmortem").text
    assert "Nightjar" not in draft and "editor-red" not in draft
    assert SECRET in call(api, "editor-red", "GET", f"/v1/incidents/{shared['id']}").text  # its writer reads it


def test_a_grouped_editor_reads_no_whole_index_counts_nor_other_keys_labeling(api):
    """GET /v1/versions gave editor-blue every document's count and each version's added/deleted (when red's
    documents came); GET /v1/improve listed every labeling key by id with its questions."""
    from ragship.access import Principal, labels_for

    blue = call(api, "editor-blue", "GET", "/v1/versions").json()["versions"]
    assert blue and all(v["counts"] is None and v["changes"] is None for v in blue)
    assert call(api, "admin", "GET", "/v1/versions").json()["versions"][0]["counts"]["documents"] > 0
    status = {"runs": [], "dataset": {"sources": {"keys": {
        "redkey": {"role": "reader", "questions": 5, "labels": 6, "reviews": 0},
        "mine": {"role": "editor", "questions": 2, "labels": 2, "reviews": 2}}}}}
    seen = labels_for(Principal("mine", "editor", frozenset({"blue"})), status)["dataset"]["sources"]
    assert "redkey" not in str(seen) and seen["keys"] == {"mine": status["dataset"]["sources"]["keys"]["mine"]}
    assert seen["by_role"] == {"reader": {"keys": 1, "questions": 5, "labels": 6, "reviews": 0}}
    assert labels_for(Principal("admin", "admin", None), status) is status

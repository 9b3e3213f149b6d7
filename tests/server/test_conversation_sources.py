"""A reopened conversation's sources (issue 49): `GET /v1/conversations/{id}` sends each turn's citations as the
answer had them, looked up in the live index now, and only those the caller may read now: a document given to
other groups since is left out, its title and span too. In process, over tests/data/teams (red/ for red)."""


from inprocess import call, upload

MEMO = "relay-memo.md"
MEMO_ID = f"uploads/{MEMO}"  # the admin's upload
MEMO_TITLE = "Relay fuelling memo"
MEMO_TEXT = f"# {MEMO_TITLE}\n\nThe orbital relay is fuelled with xenon from the AMBER-HERON-2290 tank farm.\n"
SHIP = "When does the red team ship the orbital relay?"
FUEL = "What is the orbital relay fuelled with?"


def asked(api, key, q, conversation_id):
    r = call(api, key, "POST", "/v1/ask", json={"q": q, "conversation_id": conversation_id})
    assert r.status_code == 200, r.text
    return r.json()


def reopened(api, key, conversation_id, **params):
    r = call(api, key, "GET", f"/v1/conversations/{conversation_id}", params=params)
    assert r.status_code == 200, r.text
    return r


def cited(answer):
    return [{k: c[k] for k in ("n", "doc_id", "chunk_id", "title", "start", "end")} for c in answer["citations"]]


def test_a_document_given_to_other_groups_since_leaves_the_reopened_turns(api):
    client, _ = api
    assert upload(api, "admin", {MEMO: MEMO_TEXT.encode()}, "red")[1]["status"] == "done"
    ship, fuel = asked(api, "reader-red", SHIP, "red-relay"), asked(api, "reader-red", FUEL, "red-relay")
    assert ship["citations"][0]["doc_id"] == "teams/red/launch-plan.md" and "xenon" in fuel["answer"]
    memo = [c for c in fuel["citations"] if c["doc_id"] == MEMO_ID]
    assert memo and memo[0]["title"] == MEMO_TITLE
    before = reopened(api, "reader-red", "red-relay").json()["turns"]
    assert [t["citations"] for t in before] == [cited(ship), cited(fuel)]  # as the live answers had them

    assert upload(api, "admin", {MEMO: MEMO_TEXT.encode()}, "blue")[1]["status"] == "done"  # now blue's
    view = client.app.state.service.collections.default.view()
    assert [c["groups"] for c in view.chunks([memo[0]["chunk_id"]], ["chunk_id", "groups"])] == [["blue"]]  # held
    r = reopened(api, "reader-red", "red-relay")
    after = r.json()["turns"]
    assert after[0]["citations"] == cited(ship)  # still red's
    assert after[1]["citations"] == [c for c in cited(fuel) if c["doc_id"] != MEMO_ID]
    assert MEMO_ID not in r.text and MEMO_TITLE not in r.text
    assert call(api, "reader-blue", "GET", "/v1/conversations/red-relay").status_code == 404  # not blue's
    every = reopened(api, "admin", "red-relay", all="true").json()["turns"]  # an admin reads every document
    assert MEMO_ID in {c["doc_id"] for c in every[1]["citations"]}

"""Sensitive information never lands in logs (OWASP LLM02): a real server with keys takes requests carrying a
bearer key, an e-mail address and a token in the question, failing and succeeding; neither the server's output
nor its query log (the default "redact" policy) holds any of them; under "hash" (in process) the log keeps only a
digest."""

import sqlite3

import httpx

from inprocess import teams_service
from serving import create_key, serving, teams_home

EMAIL, TOKEN = "alice.jones@example.com", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"


def test_keys_tokens_and_addresses_stay_out_of_the_servers_output_and_its_query_log(tmp_path, cache_dir):
    env = teams_home(tmp_path, cache_dir)  # the default policy, "redact"
    key = create_key(env, "editor", "red")
    log = tmp_path / "server.log"
    with serving(env, log=log) as base, httpx.Client(base_url=base, timeout=60) as client:
        probe(client, key)
    output = log.read_text()
    assert "ragship serving" in output  # what the server printed holds none of it
    for needle in (key.split("_", 2)[2], EMAIL, TOKEN, "Bearer"):
        assert needle not in output, needle
    assert "Reply to [EMAIL] with token [SECRET]" in stored(tmp_path, key)


def test_the_hash_policy_keeps_only_a_digest(tmp_path, cache_dir):
    with teams_service(tmp_path, cache_dir, {"editor": ("editor", "red")}, '[monitor]\nquery_text = "hash"\n') \
            as (client, keys, _):
        probe(client, keys["editor"])
    text = stored(tmp_path, keys["editor"])
    assert "launch date" not in text and "sha256:" in text


def probe(client, key: str) -> None:
    """Requests carrying the key, an address and a token: an answer, a refused search, a wrong key, feedback."""
    question = f"What is the launch date? Reply to {EMAIL} with token {TOKEN}"
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/ask", params={"q": question}, headers=auth).status_code == 200
    assert client.get("/v1/search", params={"q": question, "k": 5000}, headers=auth).status_code == 422
    assert client.get("/v1/search", params={"q": question},
                      headers={"Authorization": f"Bearer {key[:-4]}xxxx"}).status_code == 401
    client.post("/v1/feedback", json={"answer_id": "nope", "rating": "down", "comment": EMAIL}, headers=auth)


def stored(tmp_path, key: str) -> str:
    """Every value of the query log and the feedback table, checked to hold none of the secrets."""
    with sqlite3.connect(tmp_path / "home" / "state.sqlite") as db:
        text = " ".join(str(v) for row in db.execute("SELECT * FROM ragship_requests") for v in row)
        text += " ".join(str(v) for row in db.execute("SELECT * FROM ragship_feedback") for v in row)
    for needle in (key.split("_", 2)[2], EMAIL, TOKEN):
        assert needle not in text, needle
    return text

"""Sensitive information never lands in logs (OWASP LLM02): a real server with keys takes requests carrying a
bearer key, an e-mail address and a token in the question, failing and succeeding; neither the server's output
nor its query log (the default "redact" policy; "hash" keeps only a digest) holds any of them."""

import sqlite3

import httpx
import pytest

from serving import create_key, serving, teams_home

EMAIL, TOKEN = "alice.jones@example.com", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"


@pytest.mark.parametrize("policy", ["redact", "hash"])
def test_keys_tokens_and_addresses_stay_out_of_logs(tmp_path, cache_dir, policy):
    env = teams_home(tmp_path, cache_dir, f'[monitor]\nquery_text = "{policy}"\n')
    key = create_key(env, "editor", "red")
    log = tmp_path / "server.log"
    question = f"What is the launch date? Reply to {EMAIL} with token {TOKEN}"
    with serving(env, log=log) as base:
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/v1/ask", params={"q": question}, headers=auth, timeout=60).status_code == 200
        assert httpx.get(f"{base}/v1/search", params={"q": question, "k": 5000}, headers=auth).status_code == 422
        assert httpx.get(f"{base}/v1/search", params={"q": question},
                         headers={"Authorization": f"Bearer {key[:-4]}xxxx"}).status_code == 401
        httpx.post(f"{base}/v1/feedback", json={"answer_id": "nope", "rating": "down", "comment": EMAIL}, headers=auth)
    secret = key.split("_", 2)[2]
    output = log.read_text()
    assert "ragship serving" in output  # what the server printed holds none of it
    for needle in (secret, EMAIL, TOKEN, "Bearer"):
        assert needle not in output, needle
    with sqlite3.connect(tmp_path / "home" / "state.sqlite") as db:
        stored = " ".join(str(v) for row in db.execute("SELECT * FROM ragship_requests") for v in row)
        stored += " ".join(str(v) for row in db.execute("SELECT * FROM ragship_feedback") for v in row)
    for needle in (secret, EMAIL, TOKEN):
        assert needle not in stored, needle
    if policy == "redact":
        assert "Reply to [EMAIL] with token [SECRET]" in stored
    else:
        assert "launch date" not in stored and "sha256:" in stored

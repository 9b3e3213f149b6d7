"""No document leaks across groups: for each key, 200+ generated requests (the other group's secrets verbatim,
words from its documents, filter-injection attempts, guessed document ids, feedback and job probes; questions
through /v1/ask and OpenAI-compatible chat, plain and streamed) against the real app in process; nothing from a document
the key may not read may appear anywhere in any response body or header. A key in both groups sees exactly the
union; a collection is no way around a key's groups (OWASP LLM08)."""

import itertools
import random
import re
import time

import pytest

from conftest import DATA
from inprocess import teams_service

SECRETS = {"red": ["CRIMSON-KESTREL-4471", "RUBY-LANTERN-9902"], "blue": ["AZURE-OTTER-5183", "COBALT-HERON-7720"]}
INJECTIONS = ["x') OR true OR ('", "red' OR '1'='1", "*", "%", "blue", "red,blue", "') --", "\\'", "teams/*",
              "teams/blue/*", "teams/red/*", "' OR array_length(groups) > 0 OR '"]


def private_words(group: str) -> set[str]:
    """Words that occur only in that group's documents (so finding one in a response means a leak)."""

    def words(folder: str) -> set[str]:
        return {w.lower() for p in (DATA / "teams" / folder).glob("*.md")
                for w in re.findall(r"[A-Za-z][A-Za-z\-]{5,}", p.read_text())}

    others = set().union(*(words(f) for f in ("red", "blue", "public") if f != group))
    return words(group) - others


def requests_for(other: str, rng: random.Random) -> list[tuple[str, str, dict]]:
    """(method, path, kwargs) probes aimed at the other group's documents."""
    words = sorted(private_words(other))
    docs = [f"teams/{other}/{p.name}" for p in (DATA / "teams" / other).glob("*.md")]
    queries = SECRETS[other] + [" ".join(rng.sample(words, 3)) for _ in range(50)] + words[:40]
    out = []
    for q in queries:
        mode = rng.choice(["dense", "bm25", "hybrid"])
        out.append(("GET", "/v1/search", {"params": {"q": q, "mode": mode, "k": 50}}))
        out.append(("POST", "/v1/ask", {"json": {"question": q}}))
        out.append(("POST", "/v1/chat/completions", {"json": {"model": "ragship", "stream": rng.random() < 0.5,
                                                              "messages": [{"role": "user", "content": q}]}}))
    for value, field in itertools.product(INJECTIONS, ["team", "doc_id", "source", "groups"]):
        out.append(("POST", "/v1/search", {"json": {"query": rng.choice(queries), "filters": {field: value}, "k": 50}}))
    for doc in docs + [d.replace(".md", "") for d in docs] + [d.upper() for d in docs] + ["../" + d for d in docs]:
        out.append(("GET", f"/v1/documents/{doc}", {}))
    out += [("GET", "/v1/documents", {"params": {"limit": 1000}}), ("GET", "/v1/collections", {}),
            ("GET", "/v1/search", {"params": {"q": "teams", "filter": f"doc_id={docs[0]}"}}),
            ("POST", "/v1/feedback", {"json": {"answer_id": "x' OR 1=1", "rating": "up"}}),
            ("GET", "/v1/jobs/0123456789abcdef", {})]
    return out


def inputs(path: str, kwargs: dict) -> list[str]:
    import json

    values = [path, json.dumps(kwargs.get("json", {}))]
    for source in (kwargs.get("params", {}), kwargs.get("json", {})):
        for v in source.values():
            values += [str(x) for x in (v.values() if isinstance(v, dict) else [v])]
    values += [m["content"] for m in kwargs.get("json", {}).get("messages", [])]  # the chat question comes back
    return [v for v in values if v]


@pytest.fixture(scope="module")
def leak_server(tmp_path_factory, cache_dir):
    callers = {"red": ("reader", "red"), "blue": ("reader", "blue"), "both": ("reader", "red,blue"),
               "admin": ("admin", "")}
    with teams_service(tmp_path_factory.mktemp("leakage"), cache_dir, callers,
                       "[server]\nrate_per_minute = 100000\nburst = 10000\n") as (client, keys, _):  # not the limiter
        yield client, keys


@pytest.mark.parametrize("group, other", [("red", "blue"), ("blue", "red")])
def test_no_leak_across_groups(leak_server, group, other):
    client, keys = leak_server
    rng = random.Random(group)
    probes = requests_for(other, rng)
    assert len(probes) >= 200
    forbidden = [s.lower() for s in SECRETS[other]] + sorted(private_words(other)) + [f"teams/{other}/"]
    statuses = []
    auth = {"Authorization": f"Bearer {keys[group]}"}
    for method, path, kwargs in probes:
        r = client.request(method, path, headers=auth, **kwargs)
        statuses.append(r.status_code)
        seen = (r.text + " ".join(r.headers.values())).lower()
        for echoed in sorted(inputs(path, kwargs), key=len, reverse=True):  # the caller's own words come back
            seen = seen.replace(echoed.lower(), "")
        leaked = [w for w in forbidden if w in seen]
        assert not leaked, (method, path, kwargs, leaked[:3])
        assert r.status_code < 500, (method, path, r.text)
    assert statuses.count(200) > len(probes) * 0.8  # the probes ran, they were not refused


def test_a_key_in_both_groups_sees_exactly_the_union(leak_server):
    client, keys = leak_server

    def docs(key, q):
        r = client.get("/v1/search", params={"q": q, "k": 100}, headers={"Authorization": f"Bearer {keys[key]}"})
        return {h["doc_id"] for h in r.json()["results"]}

    for q in ["launch", "billing database", "team", *SECRETS["red"], *SECRETS["blue"]]:
        assert docs("both", q) == docs("red", q) | docs("blue", q), q

    def listed(key: str) -> set[str]:
        documents = client.get("/v1/documents", headers={"Authorization": f"Bearer {keys[key]}"}).json()["documents"]
        return {d["doc_id"] for d in documents}

    assert listed("both") == listed("red") | listed("blue") and len(listed("both")) == 6


def test_collections_do_not_cross_a_keys_groups(leak_server):
    """Tenant crossing: red's secret uploaded into another collection stays red's there too, and collection
    names cannot be bent into a path or a query."""
    client, keys = leak_server

    def call(method, path, key, **kwargs):
        return client.request(method, path, headers={"Authorization": f"Bearer {keys[key]}"}, **kwargs)

    assert call("POST", "/v1/collections", "admin", json={"name": "vault"}).status_code == 201
    job = call("POST", "/v1/documents", "admin", files={"files": ("plan.md", b"# Plan\n\nThe vault code is "
                                                          b"SCARLET-MOTH-3318.\n")},
               data={"collection": "vault", "groups": "red"}).json()
    for _ in range(600):
        if call("GET", f"/v1/jobs/{job['id']}", "admin").json()["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    red = call("GET", "/v1/search", "red", params={"q": "vault code", "collection": "vault"})
    assert "SCARLET-MOTH-3318" in red.text
    for method, path, kwargs in [
        ("GET", "/v1/search", {"params": {"q": "vault code", "collection": "vault", "mode": "bm25"}}),
        ("POST", "/v1/ask", {"json": {"question": "What is the vault code?", "collection": "vault"}}),
        ("GET", "/v1/documents", {"params": {"collection": "vault"}}),
        ("GET", "/v1/documents/uploads/plan.md", {"params": {"collection": "vault"}}),
        *[("GET", "/v1/search", {"params": {"q": "vault code", "collection": name}})
          for name in ("../collections/vault", "vault/../vault", "vault' OR '1'='1", "VAULT", "vault%00", "*")],
    ]:
        r = call(method, path, "blue", **kwargs)
        assert r.status_code < 500 and "SCARLET" not in r.text and "plan.md" not in r.text, (path, kwargs, r.text)

"""MCP tools through the official SDK's client, over stdio (`ragship mcp --key`) and over streamable HTTP
(`ragship serve`'s /mcp with the caller's key): the tools listed, search, ask, and a document outside the key's
groups refused."""

import json
import sys

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from serving import create_key, serving, teams_home

TOOLS = {"search", "ask", "list_documents", "get_document"}


@pytest.fixture(scope="module")
def home(tmp_path_factory, cache_dir):
    env = teams_home(tmp_path_factory.mktemp("mcp"), cache_dir)
    return env, {"red": create_key(env, "reader", "red"), "blue": create_key(env, "reader", "blue")}


async def exercise(session: ClientSession) -> dict:
    """What a red-group agent sees: the tools, a search, an answer, its documents, and a blue document."""
    await session.initialize()
    tools = {t.name for t in (await session.list_tools()).tools}
    found = await session.call_tool("search", {"query": "relay codename", "k": 5})
    answer = await session.call_tool("ask", {"question": "What is the red relay codename?"})
    docs = await session.call_tool("list_documents", {})
    blue = await session.call_tool("get_document", {"doc_id": "teams/blue/migration.md"})
    own = await session.call_tool("get_document", {"doc_id": "teams/red/launch-plan.md"})
    return {"tools": tools, "search": found, "ask": answer, "docs": docs, "blue": blue, "own": own}


def check(seen: dict) -> None:
    assert TOOLS <= seen["tools"]
    hits = seen["search"].structuredContent["results"]
    assert hits and all(h["doc_id"].split("/")[1] in ("red", "public") for h in hits)
    answer = seen["ask"].structuredContent
    assert not answer["abstained"] and "CRIMSON-KESTREL-4471" in answer["answer"]
    assert answer["citations"][0]["doc_id"] == "teams/red/launch-plan.md"
    docs = {d["doc_id"] for d in seen["docs"].structuredContent["documents"]}
    assert "teams/red/launch-plan.md" in docs and not any(d.startswith("teams/blue/") for d in docs)
    blue = seen["blue"]
    assert blue.isError and "no such document among those you can read" in blue.content[0].text
    assert "AZURE" not in json.dumps(blue.model_dump())
    assert not seen["own"].isError and "CRIMSON-KESTREL-4471" in seen["own"].structuredContent["text"]


def logged(env: dict) -> list[tuple[str, str]]:
    """(kind, outcome) of each request in the home's query log, oldest first."""
    from pathlib import Path

    from sqlalchemy import select

    from ragship.monitor.querylog import QueryLog
    from ragship.state import State
    from ragship.state.tables import REQUESTS

    state = State(None, Path(env["RAGSHIP_HOME"]))
    try:
        return [tuple(r) for r in QueryLog(state).state.rows(select(REQUESTS.c.kind, REQUESTS.c.outcome)
                                                                .order_by(REQUESTS.c.ts))]
    finally:
        state.close()


def test_mcp_over_stdio_reads_as_the_given_key(home):
    env, keys = home
    params = StdioServerParameters(command=sys.executable, args=["-m", "ragship", "mcp", "--key", keys["red"]],
                                   env=env)

    async def main():
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            return await exercise(session)

    before = len(logged(env))
    check(anyio.run(main))
    assert [kind for kind, _ in logged(env)[before:]] == ["search", "ask"]  # monitoring sees agents' queries


def test_mcp_over_http_reads_as_the_callers_key(home):
    env, keys = home

    async def main(base: str, key: str | None):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(headers=headers, timeout=60) as client, \
                streamable_http_client(f"{base}/mcp", http_client=client) as (read, write, _), \
                ClientSession(read, write) as session:
            return await exercise(session)

    with serving(env) as base:
        before = len(logged(env))
        check(anyio.run(main, base, keys["red"]))
        assert [kind for kind, _ in logged(env)[before:]] == ["search", "ask"]
        r = httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"

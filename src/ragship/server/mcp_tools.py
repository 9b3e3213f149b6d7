"""MCP (the Model Context Protocol of Claude Desktop, Cursor and IDE agents): the tools `search`, `ask`,
`list_documents` and `get_document`, over stdio (`ragship mcp`) and over streamable HTTP at `/mcp` under
`ragship serve`, built on the official SDK (FastMCP). Every tool reads as one key: over HTTP the caller's
(`Authorization: Bearer KEY`, as for the API), over stdio the one `ragship mcp --key` names, else the home's
owner (every document, as a server without keys). A document outside the key's groups reads as missing.
Searches and answers take the API's logged path (server/logged.py), so monitoring sees agents' traffic too."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Optional

from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings

from pydantic import Field, ValidationError

from ragship import __version__
from ragship.access import KeyStore, Principal
from ragship.collections import Collections
from ragship.monitor.querylog import QueryLog
from ragship.server.deps import visible
from ragship.server.logged import LoggedQueries, Run
from ragship.server.query import CONVERSATION_ID, Message, asked
from ragship.settings import problems

INSTRUCTIONS = ("ragship answers questions from a team's documents with verified citations. Use `ask` for a cited "
                "answer (it abstains when the documents do not answer), `search` for passages, `list_documents` "
                "and `get_document` to read whole documents.")


def build(collections: Collections, keys: KeyStore, run: Run, log: QueryLog,
          fixed: Principal | None = None) -> FastMCP:
    """The MCP server. `fixed`: the principal of every call (stdio); None: each HTTP request's key."""
    server = _FastMCP("ragship", instructions=INSTRUCTIONS, stateless_http=True, json_response=True,
                     streamable_http_path="/mcp", log_level="WARNING",
                     # the API's own checks apply (keys, loopback bind without one); Host checks would refuse a
                     # server reached by its name
                     transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    server._mcp_server.version = __version__  # serverInfo.version: ragship's, not the SDK's (no public setter)

    queries = LoggedQueries(collections, log, run)

    async def caller(ctx: Context) -> Principal:
        if fixed is not None:
            return fixed
        request = ctx.request_context.request
        # the key's lookup reads the state store: off the event loop
        return await asyncio.to_thread(keys.bearer, request.headers.get("authorization") if request else None)

    @server.tool(structured_output=True)
    async def search(query: str, ctx: Context, k: int = 10, mode: Optional[str] = None,
                     collection: Optional[str] = None) -> dict[str, Any]:
        """Passages of the documents you may read that best match the query (hybrid dense + BM25 by default;
        mode: dense, bm25 or hybrid), each with its document id, title, text and score."""
        principal = await caller(ctx)
        return await queries.search(principal, collection, query, mode, k, visible(principal))

    @server.tool(structured_output=True)
    async def ask(question: str, ctx: Context, collection: Optional[str] = None,
                  conversation: Optional[list[Message]] = None,
                  conversation_id: Annotated[Optional[str], Field(pattern=CONVERSATION_ID)] = None) -> dict[str, Any]:
        """A cited answer from the documents you may read: `answer` with [n] markers, `citations`, `confidence`;
        `abstained` is true (and `answer` empty) when the documents do not answer it confidently, and `outcome` is
        "clarify" when `answer` is a question back naming what the question could mean. A follow-up: pass the
        earlier messages as `conversation` ([{"role": "user" | "assistant", "content": ...}], oldest first) and
        the `conversation_id` the first answer returned; `searched` says what was searched."""
        principal, conversation_id = await caller(ctx), conversation_id or uuid.uuid4().hex
        return await queries.answer(principal, collection, question, asked(question, conversation), None,
                                    visible(principal), conversation_id)

    @server.tool(structured_output=True)
    async def list_documents(ctx: Context, collection: Optional[str] = None, limit: int = 100,
                             offset: int = 0) -> dict[str, Any]:
        """The documents you may read: id, title, groups, format and chunk count."""
        engine, principal = await asyncio.to_thread(collections.get, collection), await caller(ctx)
        docs = await run(engine.serving.documents, visible(principal))
        return {"total": len(docs), "documents": docs[offset:offset + max(1, min(limit, 1000))]}

    @server.tool(structured_output=True)
    async def get_document(doc_id: str, ctx: Context, collection: Optional[str] = None) -> dict[str, Any]:
        """One document's text with its chunks' offsets; an error if it does not exist or you may not read it."""
        engine, principal = await asyncio.to_thread(collections.get, collection), await caller(ctx)
        return await run(engine.serving.document, doc_id, visible(principal))

    return server


class _FastMCP(FastMCP):
    async def call_tool(self, name: str, arguments: dict[str, Any]):
        """A call with missing or mistyped arguments fails with one line naming each, not pydantic's dump."""
        try:
            return await super().call_tool(name, arguments)
        except ToolError as e:
            if isinstance(e.__cause__, ValidationError):
                raise ToolError(f"{name}: {problems(e.__cause__.errors())}") from None
            raise


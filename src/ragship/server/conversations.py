"""The caller's own conversations (`/v1/conversations`): the questions asked with a `conversation_id`, by
/v1/ask, chat or MCP. A key sees only its own; an admin may ask for every key's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from ragship.access import Principal, citations_for
from ragship.errors import CollectionNotFound, Forbidden, IndexNotReady, NotFound
from ragship.server.deps import COMMON, Reader, Service, service

# a turn's outcome as the answer said it (Answer.outcome), from the query log's (querylog.OUTCOMES)
SAID = {"answered": "answer", "abstained": "abstain", "no_result": "abstain", "clarify": "clarify", "error": "error"}
CHUNK_FIELDS = ["chunk_id", "doc_id", "title", "start", "end", "groups"]  # a citation's, and who may read it
router = APIRouter(responses=COMMON)


def _asker(principal: Principal, every: bool) -> str | None:
    """Whose conversations the caller reads: its own, or with `all` (an admin, who reads every document) every
    key's."""
    if every and not principal.can("admin"):
        raise Forbidden(f"all=true needs the admin role; the key has {principal.role}")
    return None if every else principal.key_id


@router.get("/v1/conversations", tags=["conversations"])
async def conversations(request: Request, every: bool = Query(False, alias="all", description="every key's (admin)"),
                        limit: int = Query(100, ge=1, le=1000), principal: Principal = Reader) -> dict:
    """Your conversations (the questions asked with a `conversation_id`), the latest active first: when it started,
    its last question, how many questions, and its title (the first question)."""
    svc = service(request)
    found = await svc.run(svc.log.conversations, _asker(principal, every), limit)
    keep = ("id", "started", "last", "turns", "title") + (("key_id",) if every else ())
    return {"conversations": [{k: c[k] for k in keep} for c in found]}


@router.get("/v1/conversations/{conversation_id}", tags=["conversations"])
async def conversation(request: Request, conversation_id: str,
                       every: bool = Query(False, alias="all", description="any key's (admin)"),
                       principal: Principal = Reader) -> dict:
    """One of your conversations, oldest question first: each answer's id, when, the question, the answer (the
    question back for "clarify"; null when it abstained or failed), its outcome and its citations as /v1/ask's
    (n, document, chunk, title, span: those the live index still holds and you may read now)."""
    svc = service(request)
    turns = await svc.run(svc.log.conversation, conversation_id, _asker(principal, every))
    if not turns:
        raise NotFound(f"no conversation {conversation_id!r} of yours; GET /v1/conversations lists them")
    cited = {collection: await _live_chunks(svc, collection, ids) for collection, ids in _cited(turns).items()}
    return {"id": conversation_id, "turns": [{"answer_id": t["answer_id"], "at": t["at"], "question": t["question"],
                                              "answer": t["answer"], "outcome": SAID.get(t["outcome"], t["outcome"]),
                                              "citations": citations_for(principal, t["sources"],
                                                                         cited[t["collection"]])}
                                             for t in turns]}


def _cited(turns: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The chunk ids the turns cited, by the collection each was asked in, each once."""
    wanted: dict[str, dict[str, None]] = {}
    for t in turns:
        wanted.setdefault(t["collection"], {}).update(dict.fromkeys(s["chunk_id"] for s in t["sources"]
                                                                    if s.get("cited")))
    return {collection: list(ids) for collection, ids in wanted.items()}


async def _live_chunks(svc: Service, collection: str, ids: list[str]) -> dict[str, dict]:
    """The collection's live chunks of `ids` by id, those it still holds: none where the collection was deleted
    since or holds no index now (the conversation still opens, without those sources)."""
    if not ids:
        return {}
    try:
        engine = await svc.engine(collection)
        found = await svc.run(lambda: engine.view().chunks(ids, CHUNK_FIELDS))
    except (CollectionNotFound, IndexNotReady):
        return {}
    return {c["chunk_id"]: c for c in found}

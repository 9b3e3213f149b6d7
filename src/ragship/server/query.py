"""Searching, asking (alone or in a conversation) and feedback on the answers: `/v1/search`, `/v1/ask` (and
`/v1/ask/stream`) with the earlier messages of the question's conversation, and `/v1/feedback`. A follow-up is
searched with the earlier questions, or as an LLM's standalone rewrite (ADR 0023), and the answer says what was
searched (`searched`, with `searched.fallback` when the rewrite failed) and whether it is a question back (`outcome`
"clarify"). Every read goes through the caller's permission filter (applied inside the index query by the library),
and every search and answer through the one logged path (server/logged.py) that chat and MCP use too."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Literal, Mapping, Optional, Union

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from ragship.access import Principal, answer_visible, asker_groups, readable, words_visible
from ragship.errors import AnswerNotFound
from ragship.learn.labels import check_feedback, reviews
from ragship.monitor import metrics
from ragship.retrieve.conversation import MAX_MESSAGES
from ragship.retrieve.filters import filter_from_mapping, parse_filters
from ragship.retrieve.search import MAX_QUERY_CHARS
from ragship.server.deps import COMMON, Rater, Reader, Service, service, visible
from ragship.types import SearchMode as Mode

FilterValues = dict[str, Union[str, list[str]]]
QUERY_ALIASES = AliasChoices("q", "query", "question")  # one name everywhere (`q`, as in GET); the others kept
CONVERSATION_ID = r"^[A-Za-z0-9_-]{1,64}$"
router = APIRouter(responses=COMMON)


def filter_params(specs: list[str]) -> FilterValues:
    """`?filter=FIELD=V1,V2` query parameters in the JSON form the request bodies use."""
    return {name: list(values) for name, values in parse_filters(specs)}


# -- search ------------------------------------------------------------------------------------------------------
class SearchRequest(BaseModel):
    """POST /v1/search: `{"q": "...", "mode": "hybrid", "k": 10, "filters": {"team": "ops"}}`."""

    model_config = ConfigDict(populate_by_name=True)
    q: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, validation_alias=QUERY_ALIASES,
                   description="the query (also read as `query` or `question`)")
    mode: Optional[Mode] = None
    k: Optional[int] = Field(None, ge=1, le=1000)
    filters: FilterValues = Field(default_factory=dict, description='e.g. {"team": "ops", "source": "docs/*"}')
    mmr: Optional[float] = Field(None, ge=0, le=1, description="diversity: 1 = off, lower = more diverse")
    collection: Optional[str] = None


async def _search(request: Request, principal: Principal, body: SearchRequest) -> dict:
    return await service(request).queries.search(principal, body.collection, body.q, body.mode, body.k,
                                                 visible(principal, filter_from_mapping(body.filters)), body.mmr)


@router.get("/v1/search", tags=["query"])
async def search_get(request: Request, q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS),
                     mode: Optional[Mode] = None, k: Optional[int] = Query(None, ge=1, le=1000),
                     filter: list[str] = Query([], description="FIELD=VALUE[,VALUE] (repeatable)"),
                     collection: Optional[str] = None, principal: Principal = Reader) -> dict:
    return await _search(request, principal, SearchRequest(q=q, mode=mode, k=k, collection=collection,
                                                           filters=filter_params(filter)))


@router.post("/v1/search", tags=["query"])
async def search_post(request: Request, body: SearchRequest, principal: Principal = Reader) -> dict:
    return await _search(request, principal, body)


# -- ask ---------------------------------------------------------------------------------------------------------
class Message(BaseModel):
    """An OpenAI-style message (chat's `messages`, ask's `conversation`): user and assistant messages are read, the
    others accepted and left out; `content` is text or content parts, whose text is read."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Optional[Union[str, list[dict[str, Any]]]] = None


def asked(question: str, conversation: list[Message] | None) -> str | list[dict[str, Any]]:
    """What the engine answers: the question alone, or the conversation's messages with the question last (a blank
    question alone, refused as an empty query: not an earlier question taken for it)."""
    return [*(m.model_dump() for m in conversation), {"role": "user", "content": question}] \
        if conversation and question.strip() else question


class AskRequest(BaseModel):
    """POST /v1/ask and /v1/ask/stream: `{"q": "...", "mode": "hybrid", "filters": {"team": "ops"}}`; a follow-up:
    `{"q": "and when did it end?", "conversation": [{"role": "user", "content": "..."}, ...], "conversation_id": "..."}`
    (`conversation_id` as the first answer returned it)."""

    model_config = ConfigDict(populate_by_name=True)
    q: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, validation_alias=QUERY_ALIASES,
                   description="the question (also read as `question` or `query`)")
    mode: Optional[Mode] = None
    filters: FilterValues = Field(default_factory=dict)
    collection: Optional[str] = None
    conversation: list[Message] = Field([], max_length=MAX_MESSAGES - 1, description="the messages before the "
                                        "question, OpenAI-style ({role, content}), oldest first: `q` is asked after "
                                        "them, in their context")
    conversation_id: Optional[str] = Field(default_factory=lambda: uuid.uuid4().hex, pattern=CONVERSATION_ID,
                                           description="the conversation the question belongs to, returned with the "
                                           "answer (a new one when omitted, none when null); /v1/conversations lists "
                                           "them")


async def answer_to(request: Request, principal: Principal, body: AskRequest) -> dict:
    """The answer to `body` as /v1/ask returns it (chat's too)."""
    return await service(request).queries.answer(principal, body.collection, body.q,
                                                 asked(body.q, body.conversation), body.mode,
                                                 visible(principal, filter_from_mapping(body.filters)),
                                                 body.conversation_id)


@router.get("/v1/ask", tags=["query"])
async def ask_get(request: Request, q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS),
                  mode: Optional[Mode] = None, filter: list[str] = Query([]), collection: Optional[str] = None,
                  principal: Principal = Reader) -> dict:
    return await answer_to(request, principal, AskRequest(q=q, mode=mode, collection=collection,
                                                       filters=filter_params(filter)))


@router.post("/v1/ask", tags=["query"])
async def ask_post(request: Request, body: AskRequest, principal: Principal = Reader) -> dict:
    """A cited answer; with `conversation`, to `q` asked after those messages: `searched` says what was searched,
    `outcome` is "answer", "abstain" or "clarify" (a question back), and `conversation_id` names the conversation."""
    return await answer_to(request, principal, body)


@router.post("/v1/ask/stream", tags=["query"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "events: `sentence` {text} as verified, then `answer` (the full answer)"}})
async def ask_stream(request: Request, body: AskRequest, principal: Principal = Reader) -> StreamingResponse:
    # errors (no index, bad collection, a busy server) become problems before the stream starts
    events = await service(request).queries.stream(principal, body.collection, body.q,
                                                   asked(body.q, body.conversation), body.mode,
                                                   visible(principal, filter_from_mapping(body.filters)),
                                                   body.conversation_id)

    async def sent():
        async for event in events:
            yield f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"

    return StreamingResponse(sent(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# -- feedback ----------------------------------------------------------------------------------------------------
class FeedbackRequest(BaseModel):
    answer_id: str = Field(..., min_length=1, max_length=64)
    rating: Optional[Literal["up", "down"]] = Field(None, description="omitted by a review that only marks sources "
                                                    "or says what the answer should have done")
    comment: str = Field("", max_length=2000, description="what the asker (or a reviewer) says about the answer; "
                         "alone, with no rating, it is a comment that changes no vote")
    marks: dict[str, Literal["helpful", "wrong", "opened"]] = Field(
        default_factory=dict, max_length=50, description="per cited or retrieved chunk id: did it help, was it "
        "wrong, or was it only opened (a click on the source)")
    expected: Optional[Literal["answer", "abstain"]] = Field(None, description="what the answer should have done: "
                                                             "answered, or abstained")
    correction: str = Field("", max_length=MAX_QUERY_CHARS, description="the answer it should have given")

    @model_validator(mode="after")
    def _says_something(self):
        if self.rating is None and not (self.marks or self.expected or self.correction or self.comment.strip()):
            raise ValueError("feedback needs a rating, marks on sources, expected, a correction or a comment")
        return self


@router.post("/v1/feedback", tags=["query"], status_code=201)
async def feedback(request: Request, body: FeedbackRequest, principal: Principal = Rater) -> dict:
    """A rating of one of your answers (an editor may review the answers of others whose every source it may read:
    the review queue), with optional marks on the sources it showed, and, from an editor, what it should have done
    and a corrected answer: labels for `ragship improve`. A key's later vote on an answer replaces its earlier one."""
    svc = service(request)
    shown = await asyncio.to_thread(svc.log.answer_shown, body.answer_id)
    sources = None if shown is None else shown[2] if shown[0] == principal.key_id else \
        await _reviewable(svc, principal, *shown)
    if shown is None or sources is None:
        raise AnswerNotFound(f"no answer {body.answer_id!r} of yours; feedback refers to an answer's id")
    found = await _found(svc, principal, shown, body.marks) if reviews(principal.role, principal.key_id, shown[0]) \
        else {}
    marks = check_feedback(principal.role, sources, body.marks, body.expected, body.correction, found)
    rating = {"up": 1, "down": -1, None: 0}[body.rating]
    await asyncio.to_thread(svc.log.feedback, body.answer_id, principal.key_id, rating, body.comment, marks,
                            body.expected, body.correction)
    if rating:
        metrics.record_feedback(rating)
    return {"answer_id": body.answer_id, "rating": body.rating}


async def _found(svc: Service, principal: Principal, shown: tuple, marks: Mapping[str, str]) -> dict[str, str]:
    """The marked chunks beyond the answer's sources that a reviewer may read in the answer's collection (chunk id
    -> doc id): a review may name the document the answer missed (ADR 0021)."""
    asker, collection, sources = shown
    beyond = [ref for ref in marks if ref not in {s["chunk_id"] for s in sources}]
    if not beyond:
        return {}
    engine = await svc.engine(collection)
    found = await svc.run(lambda: engine.view().chunks(beyond, ["chunk_id", "doc_id", "groups"]))
    return {c["chunk_id"]: c["doc_id"] for c in found if readable(principal, c["groups"])}


async def _reviewable(svc: Service, principal: Principal, asker: str, collection: str,
                      sources: list[dict]) -> list | None:
    """The sources of another key's answer an editor may mark, or None when it may not review it (a reader; an
    answer citing what the editor may not read, or asked by a key reading more: access.answer_visible,
    words_visible)."""
    if not principal.can("editor") or principal.groups is None:
        return sources if principal.can("editor") else None
    if not words_visible(principal, asker, (await asyncio.to_thread(asker_groups, svc.keys)).get(asker)):
        return None
    engine = await svc.engine(collection)
    found = await svc.run(lambda: engine.view().chunks([s["chunk_id"] for s in sources], ["chunk_id", "groups"]))
    groups = {c["chunk_id"]: c["groups"] for c in found}
    if not answer_visible(principal, sources, groups):
        return None
    return [s for s in sources if s["chunk_id"] in groups and readable(principal, groups[s["chunk_id"]])]

"""Asking, alone or in a conversation: `/v1/ask` (and `/v1/ask/stream`) with the earlier messages of the question's
conversation, the caller's own conversations (`/v1/conversations`), and OpenAI-compatible chat
(`POST /v1/chat/completions`, `GET /v1/models`) for Open WebUI, LibreChat and every OpenAI SDK. Each hands the engine
the messages (Engine.ask): a follow-up is searched with the earlier questions, or as an LLM's standalone rewrite
(ADR 0023), and the answer says what was searched (`searched`, with `searched.fallback` when the rewrite failed) and
whether it is a question back (`outcome` "clarify"). Chat has one model per collection ("ragship" is the default
collection, "ragship/NAME" another); its reply's text carries the [n] citations and a list of its sources, and the
response's `ragship` member the whole answer as /v1/ask returns it. The caller's key decides what can be read, as
for search, and a key sees only its own conversations."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal, Optional, Union

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ragship.collections import DEFAULT, named
from ragship.errors import Forbidden, NotFound
from ragship.retrieve.conversation import MAX_MESSAGES, content_text, turns_of
from ragship.retrieve.filters import filter_from_mapping
from ragship.retrieve.search import MAX_QUERY_CHARS
from ragship.server.routes import (COMMON, QUERY_ALIASES, FilterValues, Principal, Reader, _filter_params,
                                   answer_events, service, visible)
from ragship.types import SearchMode as Mode

MODEL = "ragship"
ABSTAINED = "The documents I can read do not answer this confidently."
CONVERSATION_ID = r"^[A-Za-z0-9_-]{1,64}$"
# a turn's outcome as the answer said it (Answer.outcome), from the query log's (querylog.OUTCOMES)
SAID = {"answered": "answer", "abstained": "abstain", "no_result": "abstain", "clarify": "clarify", "error": "error"}
router = APIRouter(responses=COMMON)


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


# -- ask ---------------------------------------------------------------------------------------------------------
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


async def _ask(request: Request, principal: Principal, body: AskRequest) -> dict:
    svc, flt = service(request), visible(principal, filter_from_mapping(body.filters))
    with svc.log.request(principal.key_id, named(body.collection), "ask", body.q, body.conversation_id) as logged:
        engine = svc.collections.get(body.collection)
        answer = await svc.run(engine.ask, asked(body.q, body.conversation), body.mode, flt)
        return logged.answered({**answer.to_dict(), "conversation_id": body.conversation_id}, answer.retrieval)


@router.get("/v1/ask", tags=["query"])
async def ask_get(request: Request, q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS),
                  mode: Optional[Mode] = None, filter: list[str] = Query([]), collection: Optional[str] = None,
                  principal: Principal = Reader) -> dict:
    return await _ask(request, principal, AskRequest(q=q, mode=mode, collection=collection,
                                                     filters=_filter_params(filter)))


@router.post("/v1/ask", tags=["query"])
async def ask_post(request: Request, body: AskRequest, principal: Principal = Reader) -> dict:
    """A cited answer; with `conversation`, to `q` asked after those messages: `searched` says what was searched,
    `outcome` is "answer", "abstain" or "clarify" (a question back), and `conversation_id` names the conversation."""
    return await _ask(request, principal, body)


@router.post("/v1/ask/stream", tags=["query"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "events: `sentence` {text} as verified, then `answer` (the full answer)"}})
async def ask_stream(request: Request, body: AskRequest, principal: Principal = Reader) -> StreamingResponse:
    svc = service(request)
    logged = svc.log.request(principal.key_id, named(body.collection), "ask", body.q, body.conversation_id)
    engine = svc.collections.get(body.collection)
    flt = visible(principal, filter_from_mapping(body.filters))
    await svc.run(engine.view)  # errors (no index, bad collection) become problems before the stream starts

    async def events():
        async for event in answer_events(svc, engine, asked(body.q, body.conversation), body.mode, flt):
            if event["type"] == "answer":
                event["answer"]["conversation_id"] = body.conversation_id
                logged.answered(event["answer"], event.pop("retrieval", None))
            yield f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# -- conversations -----------------------------------------------------------------------------------------------
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
    question back for "clarify"; null when it abstained or failed) and its outcome."""
    svc = service(request)
    turns = await svc.run(svc.log.conversation, conversation_id, _asker(principal, every))
    if not turns:
        raise NotFound(f"no conversation {conversation_id!r} of yours; GET /v1/conversations lists them")
    return {"id": conversation_id, "turns": [{"answer_id": t["answer_id"], "at": t["at"], "question": t["question"],
                                              "answer": t["answer"], "outcome": SAID.get(t["outcome"], t["outcome"])}
                                             for t in turns]}


# -- OpenAI-compatible chat --------------------------------------------------------------------------------------
class ChatRequest(BaseModel):
    """OpenAI's request; sampling options (temperature, max_tokens, ...) are accepted and have no effect."""
    model_config = ConfigDict(extra="allow")
    model: str = MODEL
    messages: list[Message] = Field(..., min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    conversation_id: Optional[str] = Field(None, pattern=CONVERSATION_ID, description="ragship's own: the "
                                           "conversation to record the question in (none when omitted)")


def collection_of(model: str) -> str:
    """"ragship" → the default collection, "ragship/NAME" → NAME (a bare collection name is accepted too)."""
    return named(None if model == MODEL else model.removeprefix(MODEL + "/"))


def chat_asked(body: ChatRequest) -> tuple[AskRequest, list[tuple[str, str]]]:
    """The chat's last user message with text asked after the messages before it (as the engine reads them: a
    conversation without one is refused here, before any stream), and the (role, text) turns read."""
    turns = turns_of([m.model_dump() for m in body.messages], MAX_QUERY_CHARS)
    last = max(i for i, m in enumerate(body.messages) if m.role == "user" and content_text(m.content, i).strip())
    return AskRequest(q=turns[-1][1], conversation=body.messages[:last], collection=collection_of(body.model),
                      conversation_id=body.conversation_id), turns


def reply_text(answer: dict) -> str:
    """The answer (or the question back) with its [n] markers, then its sources by number (the closest ones when it
    abstained)."""
    head = answer["answer"] if answer.get("outcome") == "clarify" or not answer["abstained"] else \
        ABSTAINED + (f" ({answer['warning']})" if answer.get("warning") else "") + " Closest sources:"
    return head + sources_text(answer)


def sources_text(answer: dict) -> str:
    """"[n] title (document id)", each document once ("[1][3]" when two of its chunks are cited): the id is the
    file's path in its folder, or its URL (S3, web), as search shows."""
    lines = [f"{''.join(f'[{n}]' for n in d['citations'])} {d['title'] or d['doc_id']} ({d['doc_id']})"
             for d in answer["documents"]]
    return "\n\n" + "\n".join(lines) if lines else ""


@router.get("/v1/models", tags=["openai"])
async def models(request: Request, principal: Principal = Reader) -> dict:
    names = service(request).collections.names()
    return {"object": "list", "data": [{"id": MODEL if n == DEFAULT else f"{MODEL}/{n}", "object": "model",
                                        "created": 0, "owned_by": "ragship"} for n in names]}


@router.post("/v1/chat/completions", tags=["openai"],
             responses={200: {"content": {"application/json": {}, "text/event-stream": {}},
                              "description": "a chat.completion, or its chunks with stream"}})
async def chat(request: Request, body: ChatRequest, principal: Principal = Reader):
    ask, turns = chat_asked(body)
    if body.stream:
        return await _stream(request, principal, body.model, ask, turns)
    answer = await _ask(request, principal, ask)
    reply = reply_text(answer)
    return {"id": f"chatcmpl-{answer['id']}", "object": "chat.completion", "created": int(time.time()),
            "model": body.model, "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                              "message": {"role": "assistant", "content": reply}}],
            "usage": usage(service(request).collections.get(ask.collection), turns, reply), "ragship": answer}


def usage(engine, turns: list[tuple[str, str]], reply: str) -> dict[str, int]:
    """OpenAI's token counts, by the collection's embedding tokenizer: the conversation read, the reply written
    (ragship bills nothing; clients that meter or trim context read these)."""
    spans = engine.embedder.token_spans
    prompt, completion = sum(len(spans(text)) for _, text in turns), len(spans(reply))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _stream(request: Request, principal: Principal, model: str, ask: AskRequest,
                  turns: list[tuple[str, str]]) -> StreamingResponse:
    """OpenAI's server-sent chunks, one id for the completion: verified sentences as they come, the sources, then a
    last chunk with finish_reason "stop", the usage and the `ragship` member; `data: [DONE]` ends the stream."""
    svc = service(request)
    logged = svc.log.request(principal.key_id, named(ask.collection), "ask", ask.q, ask.conversation_id)
    engine = svc.collections.get(ask.collection)
    await svc.run(engine.view)  # no index, or no such collection: an error response before the stream starts
    created, flt, completion_id = int(time.time()), visible(principal), f"chatcmpl-{uuid.uuid4().hex}"
    events = answer_events(svc, engine, asked(ask.q, ask.conversation), None, flt)

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk",
                "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    async def body():
        yield chunk({"role": "assistant", "content": ""})
        streamed = ""
        async for event in events:
            if event["type"] == "sentence":
                piece = (" " if streamed else "") + event["text"]
                streamed += piece
                yield chunk({"content": piece})
            elif event["type"] == "error":
                yield chunk({"content": f"\n\n(error: {event['detail']})"}, "stop")
            else:
                answer = {**event["answer"], "conversation_id": ask.conversation_id}
                logged.answered(answer, event.get("retrieval"))
                rest = sources_text(answer) if streamed else reply_text(answer)
                if rest:
                    yield chunk({"content": rest})
                tokens = usage(engine, turns, streamed + rest)
                yield chunk({}, "stop", usage=tokens, ragship=answer)
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

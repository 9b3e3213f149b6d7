"""OpenAI-compatible chat (`POST /v1/chat/completions`, `GET /v1/models`) for Open WebUI, LibreChat and every OpenAI
SDK: the chat's last user message asked after the messages before it, as /v1/ask asks a follow-up (server/query.py),
through the same logged path. Chat has one model per collection ("ragship" is the default collection,
"ragship/NAME" another); its reply's text carries the [n] citations and a list of its sources, and the response's
`ragship` member the whole answer as /v1/ask returns it. The caller's key decides what can be read, as for search."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Optional

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ragship.access import Principal
from ragship.collections import DEFAULT, named
from ragship.retrieve.conversation import MAX_MESSAGES, content_text, turns_of
from ragship.retrieve.search import MAX_QUERY_CHARS
from ragship.server.deps import COMMON, Reader, service, visible
from ragship.server.query import CONVERSATION_ID, AskRequest, Message, answer_to, asked

MODEL = "ragship"
ABSTAINED = "The documents I can read do not answer this confidently."
router = APIRouter(responses=COMMON)


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
    names = await asyncio.to_thread(service(request).collections.names)  # reads the collections' folder
    return {"object": "list", "data": [{"id": MODEL if n == DEFAULT else f"{MODEL}/{n}", "object": "model",
                                        "created": 0, "owned_by": "ragship"} for n in names]}


@router.post("/v1/chat/completions", tags=["openai"],
             responses={200: {"content": {"application/json": {}, "text/event-stream": {}},
                              "description": "a chat.completion, or its chunks with stream"}})
async def chat(request: Request, body: ChatRequest, principal: Principal = Reader):
    ask, turns = chat_asked(body)
    if body.stream:
        return await _stream(request, principal, body.model, ask, turns)
    answer = await answer_to(request, principal, ask)
    reply = reply_text(answer)
    tokens = await asyncio.to_thread(usage, await service(request).engine(ask.collection), turns, reply)
    return {"id": f"chatcmpl-{answer['id']}", "object": "chat.completion", "created": int(time.time()),
            "model": body.model, "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                              "message": {"role": "assistant", "content": reply}}],
            "usage": tokens, "ragship": answer}


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
    engine = await svc.engine(ask.collection)
    # no index, a busy server: an error response before the stream starts
    events = await svc.queries.stream(principal, ask.collection, ask.q, asked(ask.q, ask.conversation), None,
                                      visible(principal), ask.conversation_id)
    created, completion_id = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"

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
                answer = event["answer"]  # logged, with its conversation's id
                rest = sources_text(answer) if streamed else reply_text(answer)
                if rest:
                    yield chunk({"content": rest})
                tokens = await asyncio.to_thread(usage, engine, turns, streamed + rest)
                yield chunk({}, "stop", usage=tokens, ragship=answer)
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

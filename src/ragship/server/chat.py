"""OpenAI-compatible chat: `POST /v1/chat/completions` and `GET /v1/models`, so Open WebUI, LibreChat and every
OpenAI SDK can ask ragship. One model per collection ("ragship" is the default collection, "ragship/NAME" another).
The last user message is the question (with an LLM configured and earlier turns, the LLM rewrites it into a
standalone question first). The reply's text carries the [n] citations and a list of its sources, and the
response's `ragship` member carries the whole answer (the question answered, citations, confidence, abstention)
as /v1/ask returns it. The caller's key decides what can be read, exactly as for /v1/ask."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal, Optional, Union

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ragship.collections import DEFAULT, named
from ragship.errors import QueryError
from ragship.retrieve.search import MAX_QUERY_CHARS
from ragship.server.routes import COMMON, AskRequest, Principal, Reader, _ask, answer_events, service, visible

MODEL = "ragship"
ABSTAINED = "The documents I can read do not answer this confidently."
router = APIRouter(responses=COMMON, tags=["openai"])


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Optional[Union[str, list[dict[str, Any]]]] = None  # text, or content parts (the text parts are read)


class ChatRequest(BaseModel):
    """OpenAI's request; sampling options (temperature, max_tokens, ...) are accepted and have no effect."""
    model_config = ConfigDict(extra="allow")
    model: str = MODEL
    messages: list[ChatMessage] = Field(..., min_length=1)
    stream: bool = False


def collection_of(model: str) -> str:
    """"ragship" → the default collection, "ragship/NAME" → NAME (a bare collection name is accepted too)."""
    return named(None if model == MODEL else model.removeprefix(MODEL + "/"))


def turns_of(messages: list[ChatMessage]) -> list[tuple[str, str]]:
    """(role, text) of the user and assistant messages up to the last user message with text, which is the
    question; with an LLM configured, the earlier turns rewrite it into a standalone question (Engine.standalone)."""
    turns = [(m.role, _text(m)) for m in messages if m.role in ("user", "assistant")]
    last = max((i for i, (role, text) in enumerate(turns) if role == "user" and text), default=None)
    if last is None:
        raise QueryError("messages holds no user message with text; the last user message is the question")
    if len(turns[last][1]) > MAX_QUERY_CHARS:
        raise QueryError(f"the last user message is {len(turns[last][1])} characters; a question may have at most "
                         f"{MAX_QUERY_CHARS}")
    return [t for t in turns[:last + 1] if t[1]]


def _text(m: ChatMessage) -> str:
    text = m.content if isinstance(m.content, str) else " ".join(
        p.get("text", "") for p in m.content or [] if p.get("type") == "text")
    return text.strip()


def reply_text(answer: dict) -> str:
    """The answer with its [n] markers, then its sources by number (the closest ones when it abstained)."""
    head = ABSTAINED + (f" ({answer['warning']})" if answer.get("warning") else "") + " Closest sources:" \
        if answer["abstained"] else answer["answer"]
    return head + sources_text(answer)


def sources_text(answer: dict) -> str:
    """"[n] title (document id)", each document once ("[1][3]" when two of its chunks are cited): the id is the
    file's path in its folder, or its URL (S3, web), as search shows."""
    lines = [f"{''.join(f'[{n}]' for n in d['citations'])} {d['title'] or d['doc_id']} ({d['doc_id']})"
             for d in answer["documents"]]
    return "\n\n" + "\n".join(lines) if lines else ""


@router.get("/v1/models")
async def models(request: Request, principal: Principal = Reader) -> dict:
    names = service(request).collections.names()
    return {"object": "list", "data": [{"id": MODEL if n == DEFAULT else f"{MODEL}/{n}", "object": "model",
                                        "created": 0, "owned_by": "ragship"} for n in names]}


@router.post("/v1/chat/completions", responses={200: {"content": {"application/json": {}, "text/event-stream": {}},
                                                      "description": "a chat.completion, or its chunks with stream"}})
async def chat(request: Request, body: ChatRequest, principal: Principal = Reader):
    turns, collection = turns_of(body.messages), collection_of(body.model)
    svc = service(request)
    question = await svc.run(svc.collections.get(collection).standalone, turns, MAX_QUERY_CHARS) if len(turns) > 1 \
        else turns[-1][1]
    if body.stream:
        return await _stream(request, principal, body.model, question, collection, turns)
    answer = await _ask(request, principal, AskRequest(q=question, collection=collection))
    reply = reply_text(answer)
    return {"id": f"chatcmpl-{answer['id']}", "object": "chat.completion", "created": int(time.time()),
            "model": body.model, "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                              "message": {"role": "assistant", "content": reply}}],
            "usage": usage(svc.collections.get(collection), turns, reply), "ragship": answer}


def usage(engine, turns: list[tuple[str, str]], reply: str) -> dict[str, int]:
    """OpenAI's token counts, by the collection's embedding tokenizer: the conversation read, the reply written
    (ragship bills nothing; clients that meter or trim context read these)."""
    count = lambda text: len(engine.embedder.token_spans(text))  # noqa: E731
    prompt, completion = sum(count(text) for _, text in turns), count(reply)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _stream(request: Request, principal: Principal, model: str, question: str, collection: str,
                  turns: list[tuple[str, str]]) -> StreamingResponse:
    """OpenAI's server-sent chunks, one id for the completion: verified sentences as they come, the sources, then a
    last chunk with finish_reason "stop", the usage and the `ragship` member; `data: [DONE]` ends the stream."""
    svc = service(request)
    logged = svc.log.request(principal.key_id, collection, "ask", question)
    engine = svc.collections.get(collection)
    await svc.run(engine.view)  # no index, or no such collection: an error response before the stream starts
    created, flt, completion_id = int(time.time()), visible(principal), f"chatcmpl-{uuid.uuid4().hex}"
    events = answer_events(svc, engine, question, None, flt)

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
                answer = event["answer"]
                logged.answered(answer, event.get("retrieval"))
                rest = sources_text(answer) if streamed else reply_text(answer)
                if rest:
                    yield chunk({"content": rest})
                tokens = usage(engine, turns, streamed + rest)
                yield chunk({}, "stop", usage=tokens, ragship=answer)
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

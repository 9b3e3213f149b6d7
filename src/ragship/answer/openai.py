"""A generator on any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp's server),
through the official `openai` SDK, with tenacity for retries.

One deadline bounds the whole call, retries included: attempts that fail on a connection error, a timeout, 429
or 5xx are retried with exponential backoff (honouring Retry-After) while time remains; the SDK's own retries
are off, as they would not share that deadline. Anything else, or a reply that is not the protocol's JSON,
raises GenerationError with the reason; the answerer then falls back.
"""

from __future__ import annotations

import os
import time
from typing import Iterator

import httpx
import openai
from tenacity import RetryCallState, Retrying, retry_if_exception

from ragship.answer.prompt import messages, standalone_messages
from ragship.errors import ConfigError, GenerationError
from ragship.settings import AnswerSettings, LLMSettings
from ragship.types import Hit

RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}
MARGIN_S = 0.05  # no attempt or wait is started with less time than this left


class OpenAIClient:
    def __init__(self, settings: LLMSettings):
        if not settings.base_url or not settings.model:
            raise ConfigError("answer.generator = 'openai' needs answer.llm.base_url and answer.llm.model")
        self.settings = settings
        key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
        # the SDK insists on a key; with none, no Authorization header is sent at all (local servers need none)
        self.headers = {} if key else {"Authorization": openai.Omit()}
        self.sdk = openai.OpenAI(base_url=settings.base_url.rstrip("/"), api_key=key or "none", max_retries=0,
                                 timeout=settings.timeout_s)

    def complete(self, chat: list[dict[str, str]]) -> str:
        """The whole reply text."""
        return "".join(self._call(chat, stream=False))

    def stream(self, chat: list[dict[str, str]]) -> Iterator[str]:
        """Reply text as it arrives (server-sent events)."""
        yield from self._call(chat, stream=True)

    def _call(self, chat: list[dict[str, str]], stream: bool) -> Iterator[str]:
        deadline = time.monotonic() + self.settings.timeout_s
        started = False
        try:
            for attempt in self._attempts(deadline):
                with attempt:
                    reply = self._request(chat, stream, deadline)
                    pieces = _stream_text(reply, deadline) if stream else [_reply_text(reply)]
                    for text in pieces:
                        started = True
                        yield text
        except openai.APIError as e:
            raise GenerationError(self._reason(e, started)) from None

    def _request(self, chat, stream: bool, deadline: float):
        s = self.settings
        remaining = deadline - time.monotonic()
        if remaining <= MARGIN_S:
            # the SDK types the request httpx2's (openai >= 3); the error only carries it, as any request object
            raise openai.APITimeoutError(request=httpx.Request("POST", s.base_url))  # type: ignore[arg-type]
        try:
            return self.sdk.chat.completions.create(model=s.model, messages=chat, temperature=s.temperature,
                                                    max_tokens=s.max_tokens, stream=stream, timeout=remaining,
                                                    extra_headers=self.headers)
        except ValueError as e:  # a 200 whose body is not the protocol's JSON
            raise GenerationError(f"malformed reply from the endpoint ({type(e).__name__}): {e}"[:300]) from None

    def _attempts(self, deadline: float) -> Retrying:
        def wait(state: RetryCallState) -> float:
            seconds = self.settings.backoff_s * 2 ** (state.attempt_number - 1)
            error = state.outcome.exception() if state.outcome else None
            retry_after = getattr(getattr(error, "response", None), "headers", {}).get("retry-after")
            try:
                seconds = max(seconds, float(retry_after)) if retry_after else seconds
            except ValueError:
                pass
            return max(0.0, min(seconds, deadline - time.monotonic() - MARGIN_S))

        def stop(state: RetryCallState) -> bool:  # out of attempts, or of time
            return state.attempt_number > self.settings.retries or deadline - time.monotonic() <= MARGIN_S

        return Retrying(stop=stop, wait=wait,
                        retry=retry_if_exception(_retryable), reraise=True)

    def _reason(self, e: openai.APIError, started: bool) -> str:
        """What went wrong, in words a user can act on."""
        url = self.settings.base_url
        if isinstance(e, openai.APITimeoutError):
            return f"no reply from {url} within the {self.settings.timeout_s:g} s timeout"
        if started and isinstance(e, openai.APIConnectionError):  # part of the reply is out: no retry
            return f"the stream from {url} broke off: {type(e.__cause__ or e).__name__}"
        if isinstance(e, openai.APIConnectionError):
            cause = e.__cause__
            return f"{type(cause or e).__name__} talking to {url}" + (f": {cause}" if cause and str(cause) else "")
        if isinstance(e, openai.APIStatusError):
            return f"HTTP {e.status_code} from {url}: {_error_text(e)}"
        if isinstance(e, openai.APIResponseValidationError):
            return f"malformed reply from the endpoint: {e}"
        return f"the endpoint reported an error mid-stream: {e.body or e.message}"


class OpenAIGenerator:
    name = "openai"

    def __init__(self, client: OpenAIClient, max_sentences: int, allowed_hosts: tuple[str, ...] = ()):
        self.client, self.max_sentences, self.allowed_hosts = client, max_sentences, allowed_hosts

    def draft(self, question: str, hits: list[Hit]) -> str:
        return self.client.complete(messages(question, hits, self.max_sentences, self.allowed_hosts))

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str]:
        return self.client.stream(messages(question, hits, self.max_sentences, self.allowed_hosts))

    def standalone(self, turns: list[tuple[str, str]]) -> str:
        """The conversation's last question rewritten to stand alone (its first line, quotes stripped)."""
        reply = self.client.complete(standalone_messages(turns)).strip().splitlines()
        return reply[0].strip().strip('"').strip() if reply else ""


def make_generator(a: AnswerSettings) -> OpenAIGenerator:
    return OpenAIGenerator(OpenAIClient(a.llm), a.max_sentences, tuple(a.allowed_link_hosts))


def _retryable(e: BaseException) -> bool:
    """Connection errors and timeouts before any text, and the statuses a later attempt may not meet."""
    if isinstance(e, openai.APIStatusError):
        return e.status_code in RETRYABLE
    return isinstance(e, openai.APIConnectionError) and not getattr(e, "after_text", False)


def _reply_text(reply) -> str:
    try:
        content = reply.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as e:
        raise GenerationError(f"malformed reply from the endpoint ({type(e).__name__}): {str(reply)[:200]!r}") from None
    if not isinstance(content, str):
        raise GenerationError(f"malformed reply from the endpoint: content is {type(content).__name__}")
    return content


def _stream_text(events, deadline: float) -> Iterator[str]:
    try:
        for event in events:
            if time.monotonic() > deadline:
                raise GenerationError("the endpoint's stream did not finish within the timeout")
            delta = event.choices[0].delta.content if event.choices else None
            if delta:
                yield delta
    except openai.APIConnectionError as e:
        e.after_text = True  # type: ignore[attr-defined]  # the SDK's error, marked: a retry would repeat the text
        raise
    except (AttributeError, IndexError, TypeError, ValueError) as e:
        raise GenerationError(f"malformed stream event ({type(e).__name__})") from None


def _error_text(e: openai.APIStatusError) -> str:
    body = e.body if isinstance(e.body, dict) else {}
    error = body.get("error", body) if body else e.message
    return str(error.get("message", error) if isinstance(error, dict) else error)[:300]

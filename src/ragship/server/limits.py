"""Request limits: per-key rate limits counted in the shared state store (429 with Retry-After), exact across
server processes and replicas, and an ASGI body guard that counts the bytes actually received (413), so a chunked
body without Content-Length cannot slip past it, and refuses JSON nested deeper than MAX_JSON_DEPTH (422) before
any parser recurses into it."""

from __future__ import annotations

import json
import math

from ragship.state import State

MAX_JSON_DEPTH = 32  # no request of the API nests deeper than 4


class RateLimiter:
    """`server.rate_per_minute` with bursts of `server.burst`: a key may send `burst` requests in any window of
    the time the rate takes to earn them back (burst / rate), and `rate_per_minute` in any minute. Moving windows
    (a sliding-window log): after a burst the next request waits for the oldest to leave the window, where a
    token bucket would let one through every 60/rate s. Counted in `state` (ragship.state), so every process
    and replica sharing it enforces one limit per key, not one each."""

    def __init__(self, per_minute: int, burst: int, state: State):
        window_s = max(1, math.ceil(burst * 60 / per_minute))
        self.limits = ((burst, float(window_s)), (per_minute, 60.0))
        self.state = state

    def acquire(self, key_id: str) -> int:
        """0 when the request may go ahead (and counts it), else the seconds to wait."""
        return self.state.admit(key_id, self.limits)


class BodyLimit:
    """Refuses bodies over `limit(path)` bytes with a 413 problem, by Content-Length or by counting."""

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope["path"])
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _too_large(send, limit)
        if b"json" in dict(scope.get("headers") or []).get(b"content-type", b""):
            return await self._json(scope, receive, send, limit)
        received, started = 0, False

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            started |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, limit)

    async def _json(self, scope, receive, send, limit: int) -> None:
        """A JSON body (small: under the limit) is read whole and checked before the app parses it."""
        messages, size, depth = [], 0, JsonDepth()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                return await _too_large(send, limit)
            if depth.feed(message.get("body", b"")) > MAX_JSON_DEPTH:
                return await _problem(send, 422, "QueryError", f"request JSON is nested deeper than "
                                      f"{MAX_JSON_DEPTH} levels, the limit")
            if not message.get("more_body"):
                break
        pending = iter(messages)

        async def replayed():
            return next(pending, None) or await receive()

        await self.app(scope, replayed, send)


class JsonDepth:
    """The deepest nesting of [ and { seen so far in a JSON text fed in pieces (strings and escapes skipped)."""

    def __init__(self):
        self.depth = self.deepest = 0
        self.in_string = self.escaped = False

    def feed(self, data: bytes) -> int:
        for byte in data:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif byte == 0x5C:  # backslash
                    self.escaped = True
                elif byte == 0x22:  # quote
                    self.in_string = False
            elif byte == 0x22:
                self.in_string = True
            elif byte in (0x5B, 0x7B):
                self.depth += 1
                self.deepest = max(self.deepest, self.depth)
            elif byte in (0x5D, 0x7D):
                self.depth -= 1
        return self.deepest


class _BodyTooLarge(Exception):
    pass


async def _too_large(send, limit: int) -> None:
    await _problem(send, 413, "TooLarge", f"request body is over the {limit:,}-byte limit")


def problem_json(status: int, title: str, detail: str) -> dict:
    """A JSON problem (RFC 9457); `error` repeats the detail the way OpenAI's API words errors, so its SDKs (for
    /v1/chat/completions) show it."""
    return {"type": "about:blank", "title": title, "status": status, "detail": detail,
            "error": {"message": detail, "type": title, "code": status}}


async def _problem(send, status: int, title: str, detail: str) -> None:
    body = json.dumps(problem_json(status, title, detail)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

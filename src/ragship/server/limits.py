"""Request limits: per-key rate limits on the `limits` library (429 with Retry-After) and an ASGI body-size guard
(413) that counts the bytes actually received, so a chunked body without Content-Length cannot slip past it."""

from __future__ import annotations

import json
import math
import threading
import time

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimiter:
    """`server.rate_per_minute` with bursts of `server.burst`: a key may send `burst` requests in any window of
    the time the rate takes to earn them back (burst / rate), and `rate_per_minute` in any minute. Moving windows
    (limits' exact strategy): after a burst the next request waits for the oldest to leave the window, where a
    token bucket would let one through every 60/rate s. Counters live in this process (MemoryStorage)."""

    def __init__(self, per_minute: int, burst: int):
        window_s = max(1, math.ceil(burst * 60 / per_minute))
        self.items = (RateLimitItemPerSecond(burst, window_s), RateLimitItemPerSecond(per_minute, 60))
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._lock = threading.Lock()

    def acquire(self, key_id: str) -> int:
        """0 when the request may go ahead (and counts it), else the seconds to wait."""
        with self._lock:
            full = [item for item in self.items if not self._limiter.test(item, key_id)]
            if not full:
                for item in self.items:
                    self._limiter.hit(item, key_id)
                return 0
        reset = max(self._limiter.get_window_stats(item, key_id).reset_time for item in full)
        return max(1, math.ceil(reset - time.time()))


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


class _BodyTooLarge(Exception):
    pass


async def _too_large(send, limit: int) -> None:
    body = json.dumps({"type": "about:blank", "title": "TooLarge", "status": 413,
                       "detail": f"request body is over the {limit:,}-byte limit"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

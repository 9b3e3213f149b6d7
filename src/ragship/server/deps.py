"""What every route depends on (FastAPI's "bigger applications" dependencies module): the Service and its
one-query-at-a-time gate, who is calling (`caller`) and the role a route needs (`Reader`, `Editor`, `Admin`), what
the caller may see (`visible`), and the problem model the routes declare for their errors."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal, Optional

from fastapi import Depends, Request
from pydantic import BaseModel

from ragship.access import LOCAL, KeyStore, Principal
from ragship.collections import Collections
from ragship.engine import Engine
from ragship.errors import Forbidden, RateLimited, RequestTimeout
from ragship.ingest.jobs import Jobs
from ragship.monitor import metrics
from ragship.monitor.querylog import QueryLog
from ragship.monitor.schedule import Monitor
from ragship.oversight import Oversight
from ragship.retrieve.filters import Filter
from ragship.server.limits import RateLimiter
from ragship.server.logged import LoggedQueries


class Gate(asyncio.Lock):
    """The lock a server process runs its queries under, one at a time (2 cores gain nothing from more), taken
    within `wait_s` or refused with a RequestTimeout (503): a long answer stream never queues the others for ever."""

    def __init__(self, wait_s: float):
        super().__init__()
        self.wait_s = wait_s

    async def acquire(self) -> Literal[True]:
        try:
            async with asyncio.timeout(self.wait_s):
                return await super().acquire()
        except TimeoutError:
            raise RequestTimeout(f"the server is busy: no query could start within server.request_timeout_s = "
                                 f"{self.wait_s:g} s (each process answers one at a time); retry") from None


@dataclass
class Service:
    collections: Collections
    oversight: Oversight
    keys: KeyStore
    jobs: Jobs
    log: QueryLog
    limiter: RateLimiter
    monitor: Monitor
    ready: bool = False
    timeout_s: float = 30.0  # server.request_timeout_s
    gate: Gate = field(init=False)
    queries: LoggedQueries = field(init=False)  # searches and answers, logged: the one path of every face

    def __post_init__(self) -> None:
        self.gate = Gate(self.timeout_s)
        self.queries = LoggedQueries(self.collections, self.log, self.run, self.gate, self.timeout_s)

    async def run(self, fn, *args, **kwargs):
        """`fn` in a worker thread, one at a time, within the request time limit (queue wait included)."""

        async def gated():
            async with self.gate:
                return await asyncio.to_thread(fn, *args, **kwargs)

        try:
            return await asyncio.wait_for(gated(), self.timeout_s)
        except TimeoutError:
            raise RequestTimeout(f"the request took longer than server.request_timeout_s = {self.timeout_s:g} s; "
                                 "retry, or narrow it (a smaller k, fewer filters)") from None

    async def engine(self, collection: str | None) -> Engine:
        """The collection's engine, opened off the event loop (its first use reads its settings from disk)."""
        return await asyncio.to_thread(self.collections.get, collection)


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    error: Optional[dict] = None  # {message, type, code}: the detail again, as OpenAI's SDKs read errors


def _problems(*codes: int) -> dict:
    return {c: {"model": Problem, "content": {"application/problem+json": {}}} for c in codes}


COMMON = _problems(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)


# -- who is calling --------------------------------------------------------------------------------------------
def service(request: Request) -> Service:
    return request.app.state.service


def caller(request: Request, bucket: str = "") -> Principal:
    """Who sends the request, counted against the key's rate limit (`bucket` names a separate count). It reads the
    keys and writes the count in the state store: a sync dependency (FastAPI runs it in a worker thread), or
    `await asyncio.to_thread(caller, ...)` from async code."""
    svc = service(request)
    principal = svc.keys.bearer(request.headers.get("authorization"))
    if principal is LOCAL:  # no key exists: a local single-user server (it refuses non-loopback binds)
        return LOCAL
    wait = svc.limiter.acquire(principal.key_id + bucket)
    if wait:
        metrics.RATE_LIMITED.inc()
        raise RateLimited(f"rate limit for this key exceeded; retry in {wait} s", wait)
    return principal


def role(required: str, bucket: str = ""):
    def check(request: Request) -> Principal:
        principal = caller(request, bucket)
        if not principal.can(required):
            raise Forbidden(f"this needs the {required} role; the key has {principal.role}")
        return principal
    return check


Reader, Editor, Admin = Depends(role("reader")), Depends(role("editor")), Depends(role("admin"))
# feedback is counted apart from queries: a burst of questions must not cost the votes on their answers
Rater = Depends(role("reader", bucket=":feedback"))


def visible(principal: Principal, fields=()) -> Filter:
    """What the caller may read: its groups, and the metadata `fields` it filters on, applied inside the index."""
    return Filter(principal.groups, tuple(fields))

"""A search or an answer as every face runs it (the REST routes, OpenAI-compatible chat, MCP): the library call off
the event loop, and its query log row (monitor/querylog.py) written off it too, the same row for the same outcome
whichever face asked: a result, an answer, or an error on the server's side (a streamed answer's included)."""

from __future__ import annotations

import asyncio
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

from ragship.access import Principal
from ragship.collections import Collections, named
from ragship.embed.cache import query_scope
from ragship.errors import RagshipError, RequestTimeout, storage_error
from ragship.monitor.querylog import QueryLog, Request
from ragship.retrieve.filters import Filter

Run = Callable[..., Awaitable[Any]]  # a blocking call off the event loop (the server's: under its gate)
Question = str | list[dict[str, Any]]  # a question alone, or a conversation's messages with the question last
_producing: set[asyncio.Task] = set()  # the streams' producers, held until done (the loop keeps weak references)


async def _written(fn, *args) -> Any:
    """A query log write in a worker thread, finished even where the request is cancelled meanwhile."""
    return await asyncio.shield(asyncio.to_thread(fn, *args))


@dataclass
class LoggedQueries:
    collections: Collections
    log: QueryLog
    run: Run
    gate: Optional[asyncio.Lock] = None  # the one-query-at-a-time gate streams hold (the HTTP server's)
    limit_s: Optional[float] = None  # server.request_timeout_s: how long a stream may hold the gate

    async def search(self, principal: Principal, collection: str | None, q: str, mode: str | None, k: int | None,
                     flt: Filter, mmr: float | None = None) -> dict[str, Any]:
        async with self._logged(principal, collection, "search", q) as logged:
            engine = await asyncio.to_thread(self.collections.get, collection)
            result = await self.run(engine.search, q, mode, k, flt, mmr)
            return await _written(logged.searched, result)

    async def answer(self, principal: Principal, collection: str | None, q: str, question: Question,
                     mode: str | None, flt: Filter, conversation_id: str | None) -> dict[str, Any]:
        """The answer to `question` (whose last words are `q`, as logged), with its conversation's id."""
        async with self._logged(principal, collection, "ask", q, conversation_id) as logged:
            engine = await asyncio.to_thread(self.collections.get, collection)
            answer = await self.run(engine.ask, question, mode, flt)
            shown = {**answer.to_dict(), "conversation_id": conversation_id}
            return await _written(logged.answered, shown, answer.retrieval)

    async def stream(self, principal: Principal, collection: str | None, q: str, question: Question,
                     mode: str | None, flt: Filter, conversation_id: str | None) -> AsyncIterator[dict[str, Any]]:
        """The answer's events (see AnswerEvents) once it has started: what fails before (no index, no such
        collection, no turn at the gate in time) raises here, so a route answers it as a problem, not a stream."""
        assert self.gate is not None, "streams need the server's gate"
        async with self._logged(principal, collection, "ask", q, conversation_id) as logged:
            engine = await asyncio.to_thread(self.collections.get, collection)
            await self.run(engine.view)
            events = await AnswerEvents(self.gate, engine, question, mode, flt, self.limit_s).start()
        return _logging(events, logged, conversation_id)

    @asynccontextmanager
    async def _logged(self, principal: Principal, collection: str | None, kind: str, text: str,
                      conversation_id: str | None = None) -> AsyncIterator[Request]:
        """querylog.Request's `with` block, its error row written off the event loop."""
        logged = self.log.request(principal.key_id, named(collection), kind, text, conversation_id)
        try:
            with query_scope(principal.key_id):  # the caller's recent query vectors only (embed/cache.py)
                yield logged
        except BaseException as e:
            await _written(logged.failed, e)
            raise


async def _logging(events: AnswerEvents, logged: Request, conversation_id: str | None):
    """The events as sent, each answer (with its conversation's id) and each failure logged on its way out."""
    try:
        async for event in events:
            if event["type"] == "answer":
                event["answer"]["conversation_id"] = conversation_id
                await _written(logged.answered, event["answer"], event.pop("retrieval", None))
            elif event["type"] == "error":
                await _written(logged.failed, event.pop("exception"))
            yield event
    finally:
        events.close()


class AnswerEvents:
    """engine.ask_stream's events (`sentence`, then `answer` or `error`) for a question or a conversation's
    messages, produced in a worker thread under the gate. The gate is held while the thread produces, for at most
    `limit_s` (then an `error` event names the limit), not while a slow reader reads: the thread ends, and lets
    the gate go, when its answer is done or its reader has left."""

    def __init__(self, gate: asyncio.Lock, engine, question: Question, mode: str | None, flt: Filter | None,
                 limit_s: float | None = None):
        self._gate, self._limit_s = gate, limit_s
        self._produce = lambda: engine.ask_stream(question, mode, flt)
        self._queue: asyncio.Queue = asyncio.Queue()
        self._stop = threading.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> AnswerEvents:
        """Take the gate (the Service's Gate refuses with a RequestTimeout, 503, when it does not come free in
        time), then produce: from here the gate is let go by the producing task, whoever reads the events."""
        await self._gate.acquire()
        self._task = asyncio.create_task(self._held(asyncio.get_running_loop()))
        _producing.add(self._task)
        self._task.add_done_callback(_producing.discard)
        return self

    def close(self) -> None:
        """The reader has left: the thread stops at its next event."""
        self._stop.set()

    def __aiter__(self) -> AnswerEvents:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._task is None:
            await self.start()
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def _held(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.to_thread(self._events, loop)), self._limit_s)
        except TimeoutError:  # the thread goes on to its next event, then stops; the gate is let go now
            self._stop.set()
            late = RequestTimeout(f"the answer took longer than server.request_timeout_s = {self._limit_s:g} s; "
                                  "retry, or narrow it (fewer filters, a shorter conversation)")
            self._queue.put_nowait({"type": "error", "detail": str(late), "exception": late})
            self._queue.put_nowait(None)
        finally:
            self._gate.release()

    def _events(self, loop: asyncio.AbstractEventLoop) -> None:
        """In the worker thread: each event onto the queue, then None."""
        def put(item) -> None:
            if not self._stop.is_set():  # nobody reads any more (and the loop may be gone)
                loop.call_soon_threadsafe(self._queue.put_nowait, item)

        try:
            for event in self._produce():
                if self._stop.is_set():
                    break
                put(event)
        except Exception as e:  # noqa: BLE001 - reported to the client as an error event, never a trace
            known = e if isinstance(e, RagshipError) else storage_error(e)  # a full disk says so here too
            put({"type": "error", "detail": str(known) if known else f"{type(e).__name__}; see the server log",
                 "exception": e})
        put(None)


def answer_events(svc, engine, question: Question, mode: str | None, flt: Filter | None,
                  limit_s: float | None = None) -> AnswerEvents:
    """The answer's events under `svc.gate`, started on first read (LoggedQueries.stream starts them first)."""
    return AnswerEvents(svc.gate, engine, question, mode, flt, limit_s)

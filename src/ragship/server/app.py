"""The HTTP service: FastAPI app wiring (keys, limits, errors, metrics, the web UI). The routes are by resource
(server/health.py, keys.py, query.py, ...: see server/__init__.py), on server/deps.py's dependencies; everything
they do is a call into the library.

Errors are JSON problem details (RFC 9457) with the status the error class names; never a stack trace."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from ragship import __version__
from ragship.collections import Collections
from ragship.engine import Engine
from ragship.errors import RagshipError, RateLimited, Unauthorized, storage_error
from ragship.monitor import metrics
from ragship.oversight import Oversight
from ragship.access import KeyStore
from ragship.server.limits import BodyLimit, RateLimiter, problem_json
from ragship.server import (chat, conversations, documents, health, keys, learning, mcp_tools, operations, query,
                            runbooks)
from ragship.ingest.jobs import Jobs
from ragship.ingest.upload_job import upload_job
from ragship.server.deps import Service, caller
from ragship.settings import load_settings, problems
from ragship.util import actor

STATIC = Path(__file__).parent / "static"
UPLOAD_SLACK = 64 * 1024  # multipart framing around an upload's bytes
# Only this origin's own files: no inline script or style, no plugins, no framing, no <base> rewrite
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY", "Content-Security-Policy": CSP}


def problem(status: int, title: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(problem_json(status, title, detail), status_code=status,
                        media_type="application/problem+json", headers=headers)


class Keyed:
    """An ASGI app (the MCP endpoint) behind the API's key check and rate limit: 401 and 429 as problems."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        try:  # the key's lookup and its rate limit's count are state store transactions: off the event loop
            await asyncio.to_thread(caller, Request(scope))
        except RagshipError as e:
            return await error_problem(e)(scope, receive, send)
        await self.app(scope, receive, send)


def error_problem(e: RagshipError) -> JSONResponse:
    headers = {"Retry-After": str(e.retry_after)} if isinstance(e, RateLimited) else \
        {"WWW-Authenticate": "Bearer"} if isinstance(e, Unauthorized) else None
    return problem(e.http_status, type(e).__name__, str(e), headers)


def _problems(app: FastAPI) -> None:
    """Every error as a JSON problem with its HTTP status, never a stack trace."""

    @app.exception_handler(RagshipError)
    async def _ragship_error(request: Request, e: RagshipError) -> JSONResponse:
        return error_problem(e)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        broken = next((err for err in e.errors() if err["type"] == "json_invalid"), None)
        if broken is not None:  # not JSON at all: the caller's syntax, not a field
            at = broken["loc"][-1] if len(broken["loc"]) > 1 else "?"
            return problem(400, "Malformed JSON", f"the request body is not valid JSON ({broken['ctx']['error']} "
                           f"at character {at}); send a JSON object as the route's schema at /docs shows")
        return problem(422, "Invalid request", problems(e.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        return problem(e.status_code, "HTTP error", str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        # Starlette answers these outside every middleware (ServerErrorMiddleware): the guards come along here
        disk = storage_error(e)  # full or read-only: 507 or 503, saying so
        if disk is not None:
            return problem(disk.http_status, type(disk).__name__, str(disk), SECURITY_HEADERS)
        return problem(500, "Internal error", f"{type(e).__name__}; see the server log", SECURITY_HEADERS)


class Leader:
    """Runs `start()`'s scheduler in one server process of a home at a time (`serve --workers N` starts N): the
    process holding `lock_path` runs it; the others try again every `retry_s` and take over when it exits."""

    def __init__(self, lock_path: Path, schedule, retry_s: float = 5.0):
        from filelock import FileLock

        self._lock = FileLock(lock_path, thread_local=False)
        self._schedule, self._retry_s = schedule, retry_s
        self._stop = threading.Event()
        self._scheduler = None

    def start(self) -> None:
        if not self._try():
            threading.Thread(target=self._wait, name="ragship-scheduler-leader", daemon=True).start()

    def _try(self) -> bool:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        self._scheduler = self._schedule()
        return True

    def _wait(self) -> None:
        while not self._stop.wait(self._retry_s) and not self._try():
            pass

    def stop(self) -> None:
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._lock.release()


def from_environment() -> FastAPI:
    """The app for the settings in the environment (RAGSHIP_HOME, RAGSHIP_CONFIG, RAGSHIP_*): what each worker
    process of `ragship serve --workers N` builds (uvicorn's factory)."""
    return create_app(Engine(load_settings()))


def _pages(app: FastAPI) -> None:
    """The UI's page, the API docs and the favicon: files of the package."""

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        """Swagger UI from the package's own copy (static/vendor), never a CDN: it works offline. Started by
        static/docs.js, not FastAPI's inline script, which the CSP would block."""
        return FileResponse(STATIC / "docs.html")

    # a static file like those under /static (not an API route): browsers ask for it whatever the page links
    app.add_route("/favicon.ico", lambda request: FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml"),
                  methods=["GET"], include_in_schema=False)


def create_app(engine: Engine) -> FastAPI:
    s = engine.settings.server
    collections = Collections(engine)
    oversight, state = Oversight(collections), engine.state
    log, monitor = oversight.query_log, oversight.monitor()
    jobs = Jobs(state, upload_job(collections), lease_s=s.job_lease_s)
    service = Service(collections=collections, oversight=oversight, keys=KeyStore(state), jobs=jobs, log=log,
                      limiter=RateLimiter(s.rate_per_minute, s.burst, state), monitor=monitor,
                      timeout_s=s.request_timeout_s)
    leader = Leader(engine.home.root / "scheduler.lock",
                    lambda: monitor.schedule(tasks=oversight.improvement_tasks()))  # + the learning loop
    mcp = mcp_tools.build(collections, service.keys, service.run, service.log)
    mcp_app = mcp.streamable_http_app()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(engine.warm_up)  # model load before the first request, not during it
        await asyncio.to_thread(state.ensure_schema)  # an unreachable state store fails the start, not a request
        # a start, with the settings it changed, in each collection's timeline (monitor/starts.py)
        await asyncio.to_thread(oversight.record_start, actor.cli())
        leader.start()  # alert rounds and source re-syncs (monitor/schedule.py), in one process of the home
        jobs.start()  # upload jobs, from any process (ingest/jobs.py)
        service.ready = True
        async with mcp.session_manager.run():
            yield
        jobs.stop()
        leader.stop()
        state.close()

    app = FastAPI(title="ragship", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Cited answers from your documents: search, ask, feedback, documents and versions. "
                              "Send `Authorization: Bearer KEY` once any key exists (`ragship keys create`).")
    app.state.service = service

    _problems(app)

    for resource in (health, keys, query, documents, operations, learning, conversations, chat):
        app.include_router(resource.router)
    app.router.routes.append(Route("/mcp", Keyed(mcp_app), methods=["GET", "POST", "DELETE"]))

    _pages(app)
    app.include_router(runbooks.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    upload_limit = engine.settings.ingest.max_file_bytes * s.max_upload_files + UPLOAD_SLACK
    app.add_middleware(BodyLimit, limit=lambda path: upload_limit if path == "/v1/documents"
                       else s.max_body_kb * 1024)
    app.add_middleware(Timed)
    app.add_middleware(SecurityHeaders)  # outermost, so BodyLimit's 413s carry the headers too
    return app


class SecurityHeaders:
    """The browser's guards on every response (issue 48): no MIME sniffing, no referrer, no framing, and a CSP that
    runs only this origin's script files, so markup that reached a page could still not run. A plain ASGI
    middleware, like Timed; a header the response set itself is kept."""

    def __init__(self, app):
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def guarded(message):
            if message["type"] == "http.response.start":
                own = message.get("headers", [])
                named = {name.lower() for name, _ in own}
                message = {**message, "headers": [*own, *(h for h in self.headers if h[0] not in named)]}
            await send(message)

        await self.app(scope, receive, guarded)


class Timed:
    """Each request's latency by route and status (a plain ASGI middleware: Starlette's BaseHTTPMiddleware
    would add a task and a stream per request)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t, status = time.perf_counter(), [500]

        async def noted(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.REQUEST_SECONDS.labels(route, str(status[0])).observe(time.perf_counter() - t)

"""FastAPI app: /v1/search, /v1/ask (GET and POST), /healthz, and the ask page at /. Errors are JSON problem
details (RFC 9457) with the status the error class names; never a stack trace."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal, Optional

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from ragship import __version__
from ragship.engine import Engine
from ragship.errors import RagshipError
from ragship.monitor import metrics

STATIC = Path(__file__).parent / "static"
Mode = Literal["dense", "bm25", "hybrid"]


class SearchRequest(BaseModel):
    query: str = Field(..., min_length=1, max_length=2000)
    mode: Optional[Mode] = None
    k: Optional[int] = Field(None, ge=1, le=1000)


class AskRequest(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000)
    mode: Optional[Mode] = None


def problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail},
                        status_code=status, media_type="application/problem+json")


def create_app(engine: Engine) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(engine.warm_up)  # model load (~4 s) before the first request, not during it
        yield

    app = FastAPI(title="ragship", version=__version__, lifespan=lifespan,
                  description="Cited answers from your documents. Search and ask over the live index version.")
    # Queries run one at a time per process: the embedder is not thread-safe under torch's thread settings, and
    # two cores gain nothing from parallel encodes.
    gate = asyncio.Lock()

    @app.exception_handler(RagshipError)
    async def _ragship_error(request: Request, e: RagshipError) -> JSONResponse:
        return problem(e.http_status, type(e).__name__, str(e))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        return problem(422, "Invalid request", detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        return problem(500, "Internal error", f"{type(e).__name__}; see the server log")

    @app.middleware("http")
    async def _timed(request: Request, call_next):
        t = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.REQUEST_SECONDS.labels(getattr(route, "path", "unmatched"), str(response.status_code)).observe(
            time.perf_counter() - t)
        return response

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def run(fn, *args):
        async with gate:
            return await asyncio.to_thread(fn, *args)

    @app.get("/healthz")
    async def healthz() -> dict:
        live = engine.registry.live()
        return {"status": "ok", "live_version": live.id if live else None, "version": __version__}

    @app.get("/v1/search")
    async def search_get(q: str = Query(..., min_length=1, max_length=2000), mode: Optional[Mode] = None,
                         k: Optional[int] = Query(None, ge=1, le=1000)) -> dict:
        return (await run(engine.search, q, mode, k)).to_dict()

    @app.post("/v1/search")
    async def search_post(body: SearchRequest) -> dict:
        return (await run(engine.search, body.query, body.mode, body.k)).to_dict()

    @app.get("/v1/ask")
    async def ask_get(q: str = Query(..., min_length=1, max_length=2000), mode: Optional[Mode] = None) -> dict:
        return (await run(engine.ask, q, mode)).to_dict()

    @app.post("/v1/ask")
    async def ask_post(body: AskRequest) -> dict:
        return (await run(engine.ask, body.question, body.mode)).to_dict()

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app

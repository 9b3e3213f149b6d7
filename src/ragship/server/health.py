"""Health: `/healthz` (up while the process is), `/readyz` (the models loaded and an index live) and the
Prometheus scrape `/metrics`. The probes need no key and take no turn at the query gate: they answer while a
query runs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ragship import __version__
from ragship.access import Principal
from ragship.errors import IndexNotReady, RagshipError
from ragship.monitor import metrics
from ragship.server.deps import COMMON, Reader, service

router = APIRouter(responses=COMMON)


@router.get("/healthz", tags=["health"])
async def healthz(request: Request) -> dict:
    """Up while the process is: a home with a broken state file says so here and fails /readyz with 503."""
    try:
        live = service(request).collections.default.registry.live()
    except RagshipError as e:
        return {"status": "degraded", "live_version": None, "version": __version__, "problem": str(e)}
    return {"status": "ok", "live_version": live.id if live else None, "version": __version__}


@router.get("/readyz", tags=["health"])
async def readyz(request: Request) -> dict:
    svc = service(request)
    if not svc.ready:
        raise IndexNotReady("warming up: the models are loading")
    if svc.collections.default.registry.live() is None:
        raise IndexNotReady("no index yet: ingest documents (POST /v1/documents or `ragship ingest`)")
    return {"status": "ready"}


@router.get("/metrics", include_in_schema=False)
async def prometheus(principal: Principal = Reader) -> Response:
    """Once keys exist, a scrape sends one too (Prometheus: `authorization: {credentials: KEY}`)."""
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

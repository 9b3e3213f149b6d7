"""The /v1 API for operating a collection: index versions (list, gate reports, promote, rollback),
collections, the monitoring series, incidents. Versions and monitoring need the editor role; changes need admin."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from ragship.access import LOCAL, Principal, labels_for, sources_for, versions_for
from ragship.collections import named
from ragship.monitor import windows
from ragship.server.deps import COMMON, Admin, Editor, Reader, service
from ragship.util import actor

router = APIRouter(responses=COMMON)


async def who(request: Request, principal: Principal) -> str:
    """The caller as release records, incident entries and events name it (util/actor.py): the key's name and id
    (the name is read from the keys table: a Principal carries only the id)."""
    if principal is LOCAL:
        return actor.local()
    record = (await asyncio.to_thread(service(request).keys.records)).get(principal.key_id)
    return actor.key(principal.key_id, record.name if record else "")


# -- versions, collections, monitoring ---------------------------------------------------------------------------
@router.get("/v1/versions", tags=["versions"])
async def versions(request: Request, collection: Optional[str] = None, principal: Principal = Editor) -> dict:
    """Every version, newest first, and `rollback_target`: what `POST /v1/versions/rollback` with no version makes
    live (null when there is no earlier good version)."""
    engine = service(request).collections.get(collection)
    releases = engine.releases()
    listed = await asyncio.to_thread(releases.versions)  # reads each version's manifest for its disk use
    return {"live": engine.registry.pointer().get("id"), "rollback_target": releases.rollback_target(),
            "versions": versions_for(principal, listed)}


@router.get("/v1/versions/{version_id}/report", tags=["versions"])
async def gate_report(request: Request, version_id: str, collection: Optional[str] = None,
                      principal: Principal = Editor) -> dict:
    """The last gate's reports for a version: the comparison table and the queries that lost most."""
    releases = service(request).collections.get(collection).releases()
    return {"version": version_id, **await asyncio.to_thread(releases.report, version_id, principal)}


class PromoteRequest(BaseModel):
    force: bool = Field(False, description="skip the gate; recorded with the version and the key id")
    collection: Optional[str] = None


@router.post("/v1/versions/{version_id}/promote", tags=["versions"])
async def promote(request: Request, version_id: str, body: PromoteRequest, principal: Principal = Admin) -> dict:
    """Run the gate against the live version and make the candidate live if it passes (409 with the reports
    if it does not; 409 too where there are no golden sets to gate on: promote with force, or configure some)."""
    releases = service(request).collections.get(body.collection).releases()
    return await asyncio.to_thread(releases.promote, version_id, body.force, await who(request, principal))


@router.post("/v1/versions/rollback", tags=["versions"])
async def rollback(request: Request, version: Optional[str] = None, collection: Optional[str] = None,
                   principal: Principal = Admin) -> dict:
    """Make the named version, or else the previous good one (`rollback_target` in `GET /v1/versions`: the most
    recently live version older than the live one, never one a rollback left), live again without a gate."""
    releases = service(request).collections.get(collection).releases()
    return await asyncio.to_thread(releases.rollback, version, await who(request, principal))


class CollectionRequest(BaseModel):
    name: str = Field(..., min_length=1, max_length=63)
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                description="sections to override: chunk, search, rerank, answer")


@router.get("/v1/collections", tags=["collections"])
async def list_collections(request: Request, principal: Principal = Reader) -> dict:
    c = service(request).collections
    return {"collections": await asyncio.to_thread(lambda: [c.describe(n, principal) for n in c.names()])}


@router.post("/v1/collections", tags=["collections"], status_code=201)
async def create_collection(request: Request, body: CollectionRequest, principal: Principal = Admin) -> dict:
    c = service(request).collections
    await asyncio.to_thread(c.create, body.name, body.settings)
    return await asyncio.to_thread(c.describe, body.name)


@router.delete("/v1/collections/{name}", tags=["collections"])
async def delete_collection(request: Request, name: str, principal: Principal = Admin) -> dict:
    await asyncio.to_thread(service(request).collections.delete, name)  # removes its folder: off the event loop
    return {"deleted": name}


@router.get("/v1/monitor/series", tags=["monitoring"])
async def series(request: Request, minutes: int = Query(60, ge=1, le=10080),
                 bucket_s: Optional[int] = Query(None, ge=10, le=86400, description="default: chosen from the span "
                                                 "of the traffic in the range (at most 60 points)"),
                 principal: Principal = Editor) -> dict:
    bucket, points = await asyncio.to_thread(windows.series, service(request).log, minutes, bucket_s)
    return {"bucket_s": bucket, "series": points}


@router.get("/v1/monitor/signals", tags=["monitoring"])
async def signals(request: Request, collection: Optional[str] = None, principal: Principal = Editor) -> dict:
    """The alert rules' signals now: business metrics over monitor.window_s, drift p-values, staleness."""
    svc, name = service(request), named(collection)
    engine = svc.collections.get(collection)
    values, context = await asyncio.to_thread(svc.monitor.signals, name, engine)
    return {"collection": name, "signals": values, "window": context["window"],
            "sources": sources_for(principal, context["sources"], engine.settings.source_groups())}


@router.get("/v1/monitor/drift", tags=["monitoring"])
async def drift(request: Request, collection: Optional[str] = None, principal: Principal = Editor) -> dict:
    """The drift report: query drift (MMD), score drift (KS), the topics behind it, the business metrics that
    moved with it."""
    svc, name = service(request), named(collection)
    return await asyncio.to_thread(lambda: svc.monitor.drift(name, svc.collections.get(collection)).report(principal))


@router.post("/v1/monitor/drift/reset", tags=["monitoring"])
async def reset_drift(request: Request, collection: Optional[str] = None, principal: Principal = Admin) -> dict:
    """Start a new reference window with the next queries (e.g. after an intended change of audience)."""
    svc, name = service(request), named(collection)
    engine = svc.collections.get(collection)
    live = await asyncio.to_thread(engine.registry.live)
    return await asyncio.to_thread(svc.monitor.drift(name, engine).reset, "reset by hand", live.id if live else None,
                                   by=await who(request, principal))


@router.get("/v1/monitor/alerts", tags=["monitoring"])
async def alerts(request: Request, limit: int = Query(50, ge=1, le=1000), principal: Principal = Editor) -> dict:
    """Each rule's state, and the newest fired/resolved events with their webhook delivery."""
    monitor = service(request).monitor
    states = await asyncio.to_thread(monitor.alert_states)
    return {"states": states, "events": await asyncio.to_thread(monitor.alerts.events, limit, principal)}


# -- incidents ---------------------------------------------------------------------------------------------------
class IncidentRequest(BaseModel):
    title: str = Field(..., min_length=1, max_length=300, pattern=r"\S", description="what users see; not blank")
    collection: Optional[str] = None


class ResolveRequest(BaseModel):
    note: str = Field("", max_length=2000, description="what fixed it")


@router.get("/v1/incidents", tags=["incidents"])
async def incidents(request: Request, status: Optional[str] = Query(None, pattern="^(open|acknowledged|resolved)$"),
                    collection: Optional[str] = None, principal: Principal = Editor) -> dict:
    """The newest incidents first (opened by alerts, or by hand)."""
    found = await asyncio.to_thread(service(request).oversight.incidents_for, principal, collection, status)
    return {"incidents": [i.to_dict() for i in found]}


@router.get("/v1/incidents/{incident_id}", tags=["incidents"])
async def incident(request: Request, incident_id: str, principal: Principal = Editor) -> dict:
    """An incident and its timeline: alerts, releases, uploads, syncs, improvement runs, acks."""
    return await asyncio.to_thread(service(request).oversight.incident, incident_id, principal)


@router.get("/v1/incidents/{incident_id}/postmortem", tags=["incidents"])
async def postmortem(request: Request, incident_id: str, principal: Principal = Editor) -> dict:
    """The postmortem draft as data, and as Markdown (`markdown`) for its owner to finish."""
    from ragship.monitor.postmortem import markdown

    d = await asyncio.to_thread(service(request).oversight.postmortem, incident_id, principal)
    return {**d, "markdown": markdown(d)}


@router.post("/v1/incidents", tags=["incidents"], status_code=201)
async def open_incident(request: Request, body: IncidentRequest, principal: Principal = Editor) -> dict:
    """Open an incident by hand (what users report that no alert caught)."""
    opened = await asyncio.to_thread(service(request).oversight.incidents.open, named(body.collection),
                                     body.title, await who(request, principal))
    return opened.to_dict()


@router.post("/v1/incidents/{incident_id}/ack", tags=["incidents"])
async def ack_incident(request: Request, incident_id: str, principal: Principal = Editor) -> dict:
    oversight = service(request).oversight
    await asyncio.to_thread(oversight.visible_incident, incident_id, principal)  # another group's: not found
    done = await asyncio.to_thread(oversight.incidents.acknowledge, incident_id, await who(request, principal))
    return (await asyncio.to_thread(oversight.visible_incident, done.id, principal)).to_dict()


@router.post("/v1/incidents/{incident_id}/resolve", tags=["incidents"])
async def resolve_incident(request: Request, incident_id: str, body: ResolveRequest,
                           principal: Principal = Editor) -> dict:
    oversight = service(request).oversight
    await asyncio.to_thread(oversight.visible_incident, incident_id, principal)  # another group's: not found
    await asyncio.to_thread(oversight.incidents.resolve, incident_id, await who(request, principal), body.note)
    return (await asyncio.to_thread(oversight.visible_incident, incident_id, principal)).to_dict()


# -- learning from production (the review queue, history, gaps: server/learning.py) ----------------------------
@router.get("/v1/improve", tags=["learning"])
async def improvement(request: Request, collection: Optional[str] = None, principal: Principal = Editor) -> dict:
    """The newest improvement runs (trigger, outcome, why) and the labeled set they learned from."""
    loop = service(request).oversight.learning(collection)
    return labels_for(principal, await asyncio.to_thread(loop.status))

"""The /v1 API: who is calling, health, search, feedback, documents and jobs (asking and conversations: chat.py).
Every route names the role it needs; every read of documents goes through the caller's permission filter (applied
inside the index query by the library), so nothing unpermitted can be returned."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Union

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from ragship import __version__
from ragship.access import (LOCAL, KeyStore, Principal, answer_visible, asker_groups, job_visible, readable,
                            upload_groups, upload_namespace, words_visible)
from ragship.collections import Collections, named
from ragship.errors import (AnswerNotFound, Forbidden, IndexNotReady, JobNotFound, RagshipError, RateLimited,
                            RequestTimeout, TooLarge, storage_error)
from ragship.learn.labels import check_feedback, reviews
from ragship.monitor import metrics
from ragship.monitor.querylog import QueryLog
from ragship.monitor.watcher import Monitor
from ragship.retrieve.filters import Filter, filter_from_mapping, parse_filters
from ragship.retrieve.search import MAX_QUERY_CHARS
from ragship.server.jobs import Jobs
from ragship.server.limits import RateLimiter
from ragship.types import SearchMode as Mode
from ragship.util.names import split_names

FilterValues = dict[str, Union[str, list[str]]]


@dataclass
class Service:
    collections: Collections
    keys: KeyStore
    jobs: Jobs
    log: QueryLog
    limiter: RateLimiter
    monitor: Monitor
    ready: bool = False
    timeout_s: float = 30.0  # server.request_timeout_s
    # queries run one at a time per process: 2 cores gain nothing from more
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)

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


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    error: Optional[dict] = None  # {message, type, code}: the detail again, as OpenAI's SDKs read errors


def _problems(*codes: int) -> dict:
    return {c: {"model": Problem, "content": {"application/problem+json": {}}} for c in codes}


COMMON = _problems(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
router = APIRouter(responses=COMMON)


# -- who is calling --------------------------------------------------------------------------------------------
def service(request: Request) -> Service:
    return request.app.state.service


def caller(request: Request, bucket: str = "") -> Principal:
    """Who sends the request, counted against the key's rate limit (`bucket` names a separate count)."""
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
    return Filter(principal.groups, tuple(fields))


# -- health ----------------------------------------------------------------------------------------------------
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


@router.get("/v1/me", tags=["keys"])
async def me(principal: Principal = Reader) -> dict:
    return {"key_id": principal.key_id, "role": principal.role,
            "groups": None if principal.groups is None else sorted(principal.groups)}


# -- search (asking: chat.py) ----------------------------------------------------------------------------------
QUERY_ALIASES = AliasChoices("q", "query", "question")  # one name everywhere (`q`, as in GET); the others kept


class SearchRequest(BaseModel):
    """POST /v1/search: `{"q": "...", "mode": "hybrid", "k": 10, "filters": {"team": "ops"}}`."""

    model_config = ConfigDict(populate_by_name=True)
    q: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, validation_alias=QUERY_ALIASES,
                   description="the query (also read as `query` or `question`)")
    mode: Optional[Mode] = None
    k: Optional[int] = Field(None, ge=1, le=1000)
    filters: FilterValues = Field(default_factory=dict, description='e.g. {"team": "ops", "source": "docs/*"}')
    mmr: Optional[float] = Field(None, ge=0, le=1, description="diversity: 1 = off, lower = more diverse")
    collection: Optional[str] = None


async def _search(request: Request, principal: Principal, body: SearchRequest) -> dict:
    svc, flt = service(request), visible(principal, filter_from_mapping(body.filters))
    with svc.log.request(principal.key_id, named(body.collection), "search", body.q) as logged:
        engine = svc.collections.get(body.collection)
        return logged.searched(await svc.run(engine.search, body.q, body.mode, body.k, flt, body.mmr))


def _filter_params(specs: list[str]) -> FilterValues:
    """`?filter=FIELD=V1,V2` query parameters in the JSON form the request bodies use."""
    return {name: list(values) for name, values in parse_filters(specs)}


@router.get("/v1/search", tags=["query"])
async def search_get(request: Request, q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS),
                     mode: Optional[Mode] = None, k: Optional[int] = Query(None, ge=1, le=1000),
                     filter: list[str] = Query([], description="FIELD=VALUE[,VALUE] (repeatable)"),
                     collection: Optional[str] = None, principal: Principal = Reader) -> dict:
    return await _search(request, principal, SearchRequest(q=q, mode=mode, k=k, collection=collection,
                                                           filters=_filter_params(filter)))


@router.post("/v1/search", tags=["query"])
async def search_post(request: Request, body: SearchRequest, principal: Principal = Reader) -> dict:
    return await _search(request, principal, body)


async def answer_events(svc: Service, engine, question: str | list[dict[str, Any]], mode: Mode | None, flt: Filter):
    """engine.ask_stream's events (`sentence`, then `answer` or `error`) for a question or a conversation's messages
    (/v1/ask/stream, chat), produced in a worker thread under the service's one-query-at-a-time gate."""
    queue: asyncio.Queue = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def produce() -> None:
        try:
            for event in engine.ask_stream(question, mode, flt):
                loop.call_soon_threadsafe(queue.put_nowait, event)
        except Exception as e:  # noqa: BLE001 - reported to the client as an error event, never a trace
            known = e if isinstance(e, RagshipError) else storage_error(e)  # a full disk says so here too
            detail = str(known) if known else f"{type(e).__name__}; see the server log"
            loop.call_soon_threadsafe(queue.put_nowait, {"type": "error", "detail": detail})
        loop.call_soon_threadsafe(queue.put_nowait, None)

    async with svc.gate:
        task = asyncio.create_task(asyncio.to_thread(produce))
        while (event := await queue.get()) is not None:
            yield event
        await task


class FeedbackRequest(BaseModel):
    answer_id: str = Field(..., min_length=1, max_length=64)
    rating: Optional[Literal["up", "down"]] = Field(None, description="omitted by a review that only marks sources "
                                                    "or says what the answer should have done")
    comment: str = Field("", max_length=2000, description="what the asker (or a reviewer) says about the answer; "
                         "alone, with no rating, it is a comment that changes no vote")
    marks: dict[str, Literal["helpful", "wrong", "opened"]] = Field(
        default_factory=dict, max_length=50, description="per cited or retrieved chunk id: did it help, was it "
        "wrong, or was it only opened (a click on the source)")
    expected: Optional[Literal["answer", "abstain"]] = Field(None, description="what the answer should have done: "
                                                             "answered, or abstained")
    correction: str = Field("", max_length=MAX_QUERY_CHARS, description="the answer it should have given")

    @model_validator(mode="after")
    def _says_something(self):
        if self.rating is None and not (self.marks or self.expected or self.correction or self.comment.strip()):
            raise ValueError("feedback needs a rating, marks on sources, expected, a correction or a comment")
        return self


@router.post("/v1/feedback", tags=["query"], status_code=201)
async def feedback(request: Request, body: FeedbackRequest, principal: Principal = Rater) -> dict:
    """A rating of one of your answers (an editor may review the answers of others whose every source it may read:
    the review queue), with optional marks on the sources it showed, and, from an editor, what it should have done
    and a corrected answer: labels for `ragship improve`. A key's later vote on an answer replaces its earlier one."""
    svc = service(request)
    shown = await asyncio.to_thread(svc.log.answer_shown, body.answer_id)
    sources = None if shown is None else shown[2] if shown[0] == principal.key_id else \
        await _reviewable(svc, principal, *shown)
    if shown is None or sources is None:
        raise AnswerNotFound(f"no answer {body.answer_id!r} of yours; feedback refers to an answer's id")
    found = await _found(svc, principal, shown, body.marks) if reviews(principal.role, principal.key_id, shown[0]) \
        else {}
    marks = check_feedback(principal.role, sources, body.marks, body.expected, body.correction, found)
    rating = {"up": 1, "down": -1, None: 0}[body.rating]
    await asyncio.to_thread(svc.log.feedback, body.answer_id, principal.key_id, rating, body.comment, marks,
                            body.expected, body.correction)
    if rating:
        metrics.record_feedback(rating)
    return {"answer_id": body.answer_id, "rating": body.rating}


async def _found(svc: Service, principal: Principal, shown: tuple, marks: Mapping[str, str]) -> dict[str, str]:
    """The marked chunks beyond the answer's sources that a reviewer may read in the answer's collection (chunk id
    -> doc id): a review may name the document the answer missed (ADR 0021)."""
    asker, collection, sources = shown
    beyond = [ref for ref in marks if ref not in {s["chunk_id"] for s in sources}]
    if not beyond:
        return {}
    found = await svc.run(svc.collections.get(collection).view().chunks, beyond, ["chunk_id", "doc_id", "groups"])
    return {c["chunk_id"]: c["doc_id"] for c in found if readable(principal, c["groups"])}


async def _reviewable(svc: Service, principal: Principal, asker: str, collection: str,
                      sources: list[dict]) -> list | None:
    """The sources of another key's answer an editor may mark, or None when it may not review it (a reader; an
    answer citing what the editor may not read, or asked by a key reading more: access.answer_visible,
    words_visible)."""
    if not principal.can("editor") or principal.groups is None:
        return sources if principal.can("editor") else None
    if not words_visible(principal, asker, (await asyncio.to_thread(asker_groups, svc.keys)).get(asker)):
        return None
    found = await svc.run(svc.collections.get(collection).view().chunks, [s["chunk_id"] for s in sources],
                          ["chunk_id", "groups"])
    groups = {c["chunk_id"]: c["groups"] for c in found}
    if not answer_visible(principal, sources, groups):
        return None
    return [s for s in sources if s["chunk_id"] in groups and readable(principal, groups[s["chunk_id"]])]


# -- documents and jobs ----------------------------------------------------------------------------------------
@router.get("/v1/documents", tags=["documents"])
async def list_documents(request: Request, collection: Optional[str] = None, limit: int = Query(100, ge=1, le=1000),
                         offset: int = Query(0, ge=0),
                         q: Optional[str] = Query(None, max_length=200, description="only ids or titles holding this"),
                         principal: Principal = Reader) -> dict:
    """The documents the key may read, by id, a page at a time; `total` counts those that match `q`."""
    svc = service(request)
    docs = await svc.run(svc.collections.get(collection).serving.documents, visible(principal))
    if q:
        needle = q.casefold()
        docs = [d for d in docs if needle in d["doc_id"].casefold() or needle in (d["title"] or "").casefold()]
    return {"total": len(docs), "offset": offset, "documents": docs[offset:offset + limit]}


@router.get("/v1/documents/{doc_id:path}", tags=["documents"])
async def get_document(request: Request, doc_id: str, collection: Optional[str] = None,
                       principal: Principal = Reader) -> dict:
    svc = service(request)
    return await svc.run(svc.collections.get(collection).serving.document, doc_id, visible(principal))


@router.delete("/v1/documents/{doc_id:path}", tags=["documents"])
async def delete_document(request: Request, doc_id: str, collection: Optional[str] = None,
                          principal: Principal = Editor) -> dict:
    svc = service(request)
    engine = svc.collections.get(collection)
    await svc.run(engine.serving.document, doc_id, visible(principal))  # 404 unless the caller can see it
    report = await asyncio.to_thread(engine.delete_documents, [doc_id])  # ingest lock, not the query gate
    return {"deleted": doc_id, "version": report.version}


@router.post("/v1/documents", tags=["documents"], status_code=202)
async def upload_documents(request: Request, files: list[UploadFile] = File(...),
                           groups: str = Form("", description="comma-separated groups that may read the files"),
                           collection: Optional[str] = Form(None), principal: Principal = Editor) -> dict:
    """Upload files as one new version, ingested by a background job (`/v1/jobs/{id}`). An admin's files become
    documents `uploads/NAME`, another key's `uploads/KEY/NAME`: a key replaces only its own uploads."""
    svc = service(request)
    engine = svc.collections.get(collection)
    readers = upload_groups(principal, split_names(groups))
    if len(files) > engine.settings.server.max_upload_files:
        raise TooLarge(f"{len(files)} files; at most {engine.settings.server.max_upload_files} per upload")
    uploads = engine.ingestor.uploads
    targets = [uploads.target(f.filename, upload_namespace(principal)) for f in files]
    for target in targets:  # writing over a document needs the right to read (and so delete) it
        await svc.run(engine.serving.replaceable, uploads.doc_id(target), visible(principal))
    saved = [await _receive(uploads, f, target) for f, target in zip(files, targets)]
    return svc.jobs.submit(principal.key_id, named(collection),
                           [p.relative_to(uploads.folder).as_posix() for p in saved], readers)


async def _receive(uploads, upload: UploadFile, target):
    with uploads.receiving(target) as part:
        while chunk := await upload.read(1 << 20):
            part.write(chunk)
    return part.final


@router.get("/v1/jobs/{job_id}", tags=["documents"])
async def get_job(request: Request, job_id: str, principal: Principal = Reader) -> dict:
    jobs = service(request).jobs
    job = jobs.get(job_id)
    if job is None or not job_visible(principal, job):  # another group's job reads as a missing one
        raise JobNotFound(f"no job {job_id!r} of yours")
    return jobs.public(job)

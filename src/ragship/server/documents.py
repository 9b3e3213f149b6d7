"""Documents and their upload jobs: list, read and delete the documents the caller may read, upload files as a new
version (ingested by a background job, ingest/jobs.py) and follow the job. A document or job of a group the caller
does not read answers as a missing one."""

from __future__ import annotations

import asyncio
from typing import Optional

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from ragship.access import Principal, job_visible, upload_groups, upload_namespace
from ragship.collections import named
from ragship.errors import JobNotFound, TooLarge
from ragship.server.deps import COMMON, Editor, Reader, service, visible
from ragship.util.names import split_names

router = APIRouter(responses=COMMON)


@router.get("/v1/documents", tags=["documents"])
async def list_documents(request: Request, collection: Optional[str] = None, limit: int = Query(100, ge=1, le=1000),
                         offset: int = Query(0, ge=0),
                         q: Optional[str] = Query(None, max_length=200, description="only ids or titles holding this"),
                         principal: Principal = Reader) -> dict:
    """The documents the key may read, by id, a page at a time; `total` counts those that match `q`."""
    svc = service(request)
    engine = await svc.engine(collection)
    docs = await svc.run(engine.serving.documents, visible(principal))
    if q:
        needle = q.casefold()
        docs = [d for d in docs if needle in d["doc_id"].casefold() or needle in (d["title"] or "").casefold()]
    return {"total": len(docs), "offset": offset, "documents": docs[offset:offset + limit]}


@router.get("/v1/documents/{doc_id:path}", tags=["documents"])
async def get_document(request: Request, doc_id: str, collection: Optional[str] = None,
                       principal: Principal = Reader) -> dict:
    svc = service(request)
    engine = await svc.engine(collection)
    return await svc.run(engine.serving.document, doc_id, visible(principal))


@router.delete("/v1/documents/{doc_id:path}", tags=["documents"])
async def delete_document(request: Request, doc_id: str, collection: Optional[str] = None,
                          principal: Principal = Editor) -> dict:
    svc = service(request)
    engine = await svc.engine(collection)
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
    engine = await svc.engine(collection)
    readers = upload_groups(principal, split_names(groups))
    if len(files) > engine.settings.server.max_upload_files:
        raise TooLarge(f"{len(files)} files; at most {engine.settings.server.max_upload_files} per upload")
    uploads = engine.ingestor.uploads
    targets = [uploads.target(f.filename, upload_namespace(principal)) for f in files]
    for target in targets:  # writing over a document needs the right to read (and so delete) it
        await svc.run(engine.serving.replaceable, uploads.doc_id(target), visible(principal))
    saved = [await _receive(uploads, f, target) for f, target in zip(files, targets)]
    return await asyncio.to_thread(svc.jobs.submit, principal.key_id, named(collection),
                                   [p.relative_to(uploads.folder).as_posix() for p in saved], readers)


async def _receive(uploads, upload: UploadFile, target):
    with uploads.receiving(target) as part:
        while chunk := await upload.read(1 << 20):
            part.write(chunk)
    return part.final


@router.get("/v1/jobs/{job_id}", tags=["documents"])
async def get_job(request: Request, job_id: str, principal: Principal = Reader) -> dict:
    jobs = service(request).jobs
    job = await asyncio.to_thread(jobs.get, job_id)
    if job is None or not job_visible(principal, job):  # another group's job reads as a missing one
        raise JobNotFound(f"no job {job_id!r} of yours")
    return jobs.public(job)

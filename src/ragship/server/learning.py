"""The /v1 API for learning from production: the review queue, a key's own question history, the feedback export
and the questions the documents fail to answer. What a caller sees of other keys' questions is access.py's rule."""

from __future__ import annotations

import asyncio
from typing import Literal, Optional

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ragship.access import (Principal, answer_visible, asker_groups, askers_visible, feedback_for, history_for,
                            readable, review_for, words_visible)
from ragship.collections import named
from ragship.learn.feedback_export import as_csv, feedback_rows
from ragship.learn.gaps import DAYS, gaps
from ragship.learn.history import history
from ragship.learn.review import queue as review_queue
from ragship.retrieve.filters import Filter
from ragship.server.deps import COMMON, Editor, Reader, Service, service
from ragship.util import actor

router = APIRouter(responses=COMMON)


async def _names(svc: Service) -> dict[str, str]:
    return {key_id: record.name for key_id, record in (await asyncio.to_thread(svc.keys.records)).items()}


async def _chunks(svc: Service, collection: Optional[str], ids: list[str], fields: list[str]) -> dict[str, dict]:
    """The live index's chunks of `ids` by id (those it no longer holds are missing)."""
    engine = await svc.engine(collection)
    found = await svc.run(lambda: engine.view().chunks(list(dict.fromkeys(ids)), fields))
    return {c["chunk_id"]: c for c in found}


@router.get("/v1/review", tags=["learning"])
async def review(request: Request, collection: Optional[str] = None,
                 queue: str = Query("all", pattern="^(all|down|up|abstained|sample)$"),
                 status: str = Query("to_review", pattern="^(to_review|reviewed|all)$",
                                     description="answers not reviewed yet, the reviewed ones (with their latest "
                                                 "review), or both"),
                 limit: int = Query(50, ge=1, le=500), principal: Principal = Editor) -> dict:
    """The review queue: rated answers (down or up), abstentions and a sample of unrated ones, with their sources'
    text, who asked (`asked_by_name`) and the latest review (`review`); review one with POST /v1/feedback (marks,
    expected, correction). An answer shows only where the caller may read the sources that decide it
    (access.answer_visible) and the words of its asker (access.words_visible); others are left out, question and
    all, and so is each source of a shown answer that the caller may not read."""
    svc = service(request)
    rows = await asyncio.to_thread(review_queue, svc.log, named(collection), queue, limit, status)
    askers, names = await asyncio.to_thread(asker_groups, svc.keys), await _names(svc)
    shown = []
    for row in rows:
        if not words_visible(principal, row["asked_by"], askers.get(row["asked_by"])):
            continue  # asked by someone who reads more than the caller: its words may name what it may not read
        found = await _chunks(svc, collection, [s["chunk_id"] for s in row["sources"]],
                              ["chunk_id", "title", "text", "groups"])
        if answer_visible(principal, row["sources"], {i: c["groups"] for i, c in found.items()}):
            row["sources"] = [{**s, "title": found[s["chunk_id"]]["title"], "text": found[s["chunk_id"]]["text"]}
                              for s in row["sources"] if s["chunk_id"] in found
                              and readable(principal, found[s["chunk_id"]]["groups"])]
            row["asked_by_name"] = actor.recorded(row["asked_by"], names)
            row["review"] = review_for(principal, row["review"], askers, [s["chunk_id"] for s in row["sources"]])
            if row["review"]:
                row["review"]["by_name"] = actor.recorded(row["review"]["by"], names)
            shown.append(row)
    return {"queue": queue, "status": status, "answers": shown}


@router.get("/v1/history", tags=["learning"])
async def own_history(request: Request, collection: Optional[str] = None, limit: int = Query(50, ge=1, le=500),
                      before: Optional[float] = Query(None, description="only questions asked before this time "
                                                                        "(seconds since the epoch): the next page"),
                      principal: Principal = Reader) -> dict:
    """The caller's own questions, newest first: when, the outcome, the answer, and its own rating and comment."""
    svc = service(request)
    asked = await asyncio.to_thread(history, svc.log, principal.key_id, collection and named(collection), limit,
                                    before)
    return {"questions": history_for(principal, asked)}


@router.get("/v1/feedback/export", tags=["learning"],
            responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `format=csv`"}})
async def feedback_export(request: Request, collection: Optional[str] = None,
                          format: Literal["json", "csv"] = "json",
                          days: Optional[float] = Query(None, gt=0, description="only the last days' feedback"),
                          principal: Principal = Editor):
    """Every rating, comment and review with who asked (by key name), the question, the outcome and the answer:
    only those about answers the caller could review (as the review queue), and a rater's comment only where the
    caller may read that key's words."""
    import time

    svc = service(request)
    since = time.time() - days * 86400 if days else 0.0
    rows = await asyncio.to_thread(feedback_rows, svc.log, named(collection), await _names(svc), since)
    groups = {i: c["groups"] for i, c in (await _chunks(
        svc, collection, [s["chunk_id"] for r in rows for s in r["sources"]], ["chunk_id", "groups"])).items()}
    shown = feedback_for(principal, rows, await asyncio.to_thread(asker_groups, svc.keys), groups)
    if format == "csv":
        return Response(as_csv(shown), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="ragship-feedback.csv"'})
    return {"collection": named(collection), "feedback": shown}


@router.get("/v1/gaps", tags=["learning"])
async def unanswered(request: Request, collection: Optional[str] = None,
                     days: float = Query(DAYS, gt=0, le=3650),
                     reask: bool = Query(False, description="ask the newest open questions again, each as its asker "
                                                            "may read, and mark those the documents now answer"),
                     principal: Principal = Editor) -> dict:
    """The questions the documents fail to answer: abstentions, empty results and down-voted answers of the last
    `days`, one entry per question, grouped by topic with counts, the askers' comments, and which are closed (later
    answered without a down-vote; with `reask`, which the documents answer now). Only the questions of askers whose
    words the caller may read (as the review queue); `hidden` counts the others."""
    svc = service(request)
    groups = await asyncio.to_thread(asker_groups, svc.keys)
    engine = svc.collections.get(collection)

    def ask(question: str, asker: str) -> dict:  # as its asker reads (within what the caller reads: words_visible)
        readable_by = groups.get(asker, principal.groups)
        return engine.ask(question, None, Filter(principal.groups if readable_by is None else readable_by)).to_dict()

    return await svc.run(gaps, svc.log, named(collection), askers_visible(principal, groups), days, None,
                         ask if reask else None)

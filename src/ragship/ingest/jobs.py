"""The upload job queue, in the state store (the jobs table's owner; server/documents.py is its HTTP face). The
process that receives an upload queues its job and wakes its own worker; every server process (and replica) runs one
worker thread that takes the oldest queued job and runs it (upload_job.py). A running job holds a lease that its
worker renews every second along with its progress; a job whose lease lapses (its process was killed) is taken again
by another worker, so no acknowledged upload is lost. A job interrupted `max_attempts` times is failed rather than
retried for ever. An incident's timeline reads the jobs of its window (`between`)."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any, Callable

from sqlalchemy import and_, or_, select

from ragship.errors import RagshipError, storage_error
from ragship.state import State
from ragship.state.tables import JOBS
from ragship.util.clock import now
from ragship.util.identity import process

log = logging.getLogger("ragship.server")  # the worker runs in the server processes: their log, as before the move
COLUMNS = ("id", "key_id", "collection", "status")
Observe = Callable[[str, int, "int | None"], None]
Run = Callable[[dict, Observe], "list[dict]"]  # (the job, its progress observer) -> one result per file


class Jobs:
    """The queue, and the worker that runs its jobs with `run` (without a run it only queues and reads them, as the
    incident timeline does)."""

    def __init__(self, state: State, run: Run | None = None, lease_s: float = 30.0, poll_s: float = 2.0,
                 max_attempts: int = 3):
        self.state, self.run = state, run
        self.lease_s, self.poll_s, self.max_attempts = lease_s, poll_s, max_attempts
        self.owner = process()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        if self.run is None:
            raise ValueError("Jobs(state) only reads and queues jobs: give it the job's run to start its worker")
        self._worker = threading.Thread(target=self._work, args=(self.run,), name="ragship-ingest-job", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """Stop taking jobs; a job running now keeps its lease until it lapses, then another worker takes it."""
        self._stop.set()
        self._wake.set()

    def submit(self, key_id: str, collection: str, files: list[str], groups: tuple[str, ...]) -> dict:
        """Queue the ingest of `files` (already in the collection's uploads folder), readable by `groups`."""
        job = {"id": uuid.uuid4().hex[:16], "key_id": key_id, "collection": collection, "status": "queued",
               "files": files, "groups": list(groups), "created_at": now(),
               "progress": {"stage": "queued", "done": 0, "total": None}, "results": [], "failures": [],
               "error": None}
        with self.state.ready() as c:
            c.execute(JOBS.insert().values(**_columns(job), created=time.time(), attempts=0, body=_body(job)))
        self._wake.set()
        return self.public(job)

    def get(self, job_id: str) -> dict | None:
        with self.state.ready(read=True) as c:
            row = c.execute(select(JOBS).where(JOBS.c.id == job_id)).first()
        return None if row is None else _job(row)

    def between(self, collection: str, start: float, end: float) -> list[dict]:
        """The collection's jobs queued from `start` to `end` (epoch seconds), oldest first: each with its key id
        and groups, `created` (epoch seconds) and the process that ran it last (`owner`, or None)."""
        j = JOBS.c
        with self.state.ready(read=True) as c:
            rows = c.execute(select(JOBS).where(j.collection == collection, j.created >= start, j.created <= end)
                             .order_by(j.created)).all()
        return [{**_job(row), "created": row.created, "owner": row.owner} for row in rows]

    @staticmethod
    def public(job: dict) -> dict:
        """The job as its owner sees it (without the key id and the groups it was given)."""
        return {k: v for k, v in job.items() if k not in ("key_id", "groups")}

    # -- the worker ----------------------------------------------------------------------------------------------
    def _work(self, run: Run) -> None:
        while not self._stop.is_set():
            try:
                job = self._claim()
            except RagshipError as e:  # the store is down: try again later
                log.warning("jobs: no job taken (%s)", e)
                job = None
            if job is not None:
                self._execute(job, run)
            elif self._wake.wait(self.poll_s):
                self._wake.clear()

    def _claim(self) -> dict | None:
        """Take the oldest queued job, or a running one whose lease has lapsed (one worker wins each)."""
        at, j = time.time(), JOBS.c
        query = select(JOBS).where(or_(j.status == "queued", and_(j.status == "running", j.lease_until < at))) \
            .order_by(j.created).limit(1)
        with self.state.ready() as c:
            if c.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE already lets one writer in
                query = query.with_for_update(skip_locked=True)
            row = c.execute(query).first()
            if row is None:
                return None
            job = _job(row)
            if row.attempts >= self.max_attempts:
                job.update(status="failed", finished_at=now(),
                           error=f"the server stopped {row.attempts} times while ingesting this upload")
                c.execute(JOBS.update().where(j.id == row.id).values(**_columns(job), lease_until=None,
                                                                      body=_body(job)))
                return None
            job["status"] = "running"
            c.execute(JOBS.update().where(j.id == row.id).values(status="running", owner=self.owner,
                                                                 lease_until=at + self.lease_s,
                                                                 attempts=row.attempts + 1, body=_body(job)))
        self._wake.set()  # look again straight after this one
        return job

    def _execute(self, job: dict, run: Run) -> None:
        def observe(stage: str, n: int, total: int | None = None) -> None:
            p = job["progress"]
            if stage != p["stage"]:
                p.update(stage=stage, done=0, total=None)
            p["done"] += n
            if total is not None:
                p["total"] = total

        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, done), daemon=True)
        beat.start()
        try:
            job["results"] = run(job, observe)
            job["failures"] = [f for r in job["results"] for f in r.get("failures", [])]
            job["status"] = "failed" if job["failures"] and not any(r.get("ingested") for r in job["results"]) \
                else "done"
        except RagshipError as e:
            job["status"], job["error"] = "failed", str(e)
        except Exception as e:  # noqa: BLE001 - a job must end with a status, not a dead thread
            job["status"], job["error"] = "failed", str(storage_error(e) or f"{type(e).__name__}: {e}")
        done.set()
        beat.join()
        job["finished_at"] = now()
        self._save(job, lease=False)

    def _heartbeat(self, job: dict, done: threading.Event) -> None:
        while not done.wait(1.0):
            self._save(job, lease=True)

    def _save(self, job: dict, lease: bool) -> None:
        """Write the job's progress (and renew its lease, or end it); only while this worker still holds it."""
        try:
            with self.state.ready() as c:
                c.execute(JOBS.update().where(JOBS.c.id == job["id"], JOBS.c.owner == self.owner).values(
                    status=job["status"], body=_body(job), lease_until=time.time() + self.lease_s if lease else None))
        except RagshipError as e:  # the store is down: the lease may lapse, and the job run again (idempotent)
            log.warning("job %s: its record was not written (%s)", job["id"], e)


def _columns(job: dict) -> dict[str, Any]:
    return {k: job[k] for k in COLUMNS}


def _body(job: dict) -> str:
    return json.dumps({k: v for k, v in job.items() if k not in COLUMNS})


def _job(row) -> dict:
    return {**{k: getattr(row, k) for k in COLUMNS}, **json.loads(row.body)}

"""Background ingest jobs for uploaded files: one worker thread per process (ingest holds the home's writer
lock anyway), each job's state kept in memory and in HOME/jobs/ID.json so it survives a restart as a record."""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from ragship.errors import RagshipError, storage_error
from ragship.fsio import atomic_write_json, read_json
from ragship.util.clock import now

log = logging.getLogger("ragship.server")


class Jobs:
    def __init__(self, folder: Path):
        self.folder = folder
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragship-ingest-job")

    def submit(self, key_id: str, collection: str, files: list[str], work: Callable[[Callable], list[dict]]) -> dict:
        """Queue `work(observe)`, which ingests and returns one result per file."""
        job = {"id": uuid.uuid4().hex[:16], "key_id": key_id, "collection": collection, "status": "queued",
               "files": files, "created_at": now(), "progress": {"stage": "queued", "done": 0, "total": None},
               "results": [], "failures": [], "error": None}
        self._save(job)
        self._pool.submit(self._run, job["id"], work)
        return self.public(job)

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and len(job_id) == 16 and job_id.isalnum():
            job = read_json(self.folder / f"{job_id}.json")
        return job

    def _run(self, job_id: str, work) -> None:
        job = self.get(job_id)
        job["status"] = "running"
        self._save(job)

        def observe(stage: str, n: int, total: int | None = None) -> None:
            p = job["progress"]
            if stage != p["stage"]:
                p.update(stage=stage, done=0, total=None)
            p["done"] += n
            if total is not None:
                p["total"] = total

        try:
            job["results"] = work(observe)
            job["failures"] = [f for r in job["results"] for f in r.get("failures", [])]
            job["status"] = "failed" if job["failures"] and not any(r.get("ingested") for r in job["results"]) \
                else "done"
        except RagshipError as e:
            job["status"], job["error"] = "failed", str(e)
        except Exception as e:  # noqa: BLE001 - a job must end with a status, not a dead thread
            job["status"], job["error"] = "failed", str(storage_error(e) or f"{type(e).__name__}: {e}")
        job["finished_at"] = now()
        self._save(job)

    def _save(self, job: dict) -> None:
        with self._lock:
            self._jobs[job["id"]] = job
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.folder / f"{job['id']}.json", job)
        except OSError as e:  # disk full: this process still knows the job; a restart would not
            log.warning("job %s: its record was not written (%s)", job["id"], e)

    @staticmethod
    def public(job: dict) -> dict:
        """The job as its owner sees it (without the key id)."""
        return {k: v for k, v in job.items() if k != "key_id"}

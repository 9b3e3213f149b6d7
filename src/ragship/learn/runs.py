"""Improvement runs as the state store records them (one row each, every server process sees them), the triggers
that start one, and the process a scheduled run lives in: its own, below the server's priority, with a bound on
its resident memory, so serving never waits for training (ADR 0021)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ragship.errors import NotFound
from ragship.learn.labels import qid_of
from ragship.monitor.alerts import Alerts
from ragship.monitor.querylog import QueryLog
from ragship.settings import Settings, duration_s
from ragship.state.tables import IMPROVE_RUNS

FIELDS = ("id", "collection", "started", "finished", "status", "trigger", "body")


class Runs:
    """The runs of one collection. This class alone reads and writes their table; the monitor reads them through
    `latest` and `between` (it sits below learning, so it is handed a Runs, never imports it)."""

    def __init__(self, log: QueryLog, collection: str):
        self.log, self.collection, self.state = log, collection, log.state

    def start(self, trigger: str) -> str:
        run_id = uuid.uuid4().hex[:16]
        self.state.write(IMPROVE_RUNS.insert().values(id=run_id, collection=self.collection, started=time.time(),
                                                      status="running", trigger=trigger,
                                                      body=json.dumps({"pid": os.getpid()})))
        return run_id

    def adopt(self, run_id: str, pid: int) -> None:
        """The process `pid` carries on run `run_id` (started by the scheduler, run by its own process); NotFound
        when no such run is recorded (it would run without a record)."""
        r = IMPROVE_RUNS.c
        if not self.state.write(IMPROVE_RUNS.update().where(r.id == run_id, r.collection == self.collection,
                                                            r.status == "running").values(
                body=json.dumps({"pid": pid}))):
            raise NotFound(f"no improvement run {run_id!r} in progress for {self.collection}; `ragship improve` "
                           "starts one (--run-id is the scheduler's)")

    def finish(self, run_id: str, status: str, body: dict[str, Any]) -> None:
        self.state.write(IMPROVE_RUNS.update().where(IMPROVE_RUNS.c.id == run_id).values(
            finished=time.time(), status=status, body=json.dumps(body, default=str)))

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest runs first, each with its report."""
        r = IMPROVE_RUNS.c
        rows = self.state.rows(select(*(getattr(r, f) for f in FIELDS)).where(r.collection == self.collection)
                               .order_by(r.started.desc()).limit(limit))
        return [_run(row) for row in rows]

    def latest(self) -> dict[str, Any] | None:
        """The newest run that has ended (the ImproveRefused alert's signal), or None."""
        r = IMPROVE_RUNS.c
        rows = self.state.rows(select(*(getattr(r, f) for f in FIELDS)).where(
            r.collection == self.collection, r.status != "running").order_by(r.started.desc()).limit(1))
        return _run(rows[0]) if rows else None

    def between(self, start: float, end: float) -> list[dict[str, Any]]:
        """The runs that started by `end` and had not finished before `start` (an incident's timeline)."""
        r = IMPROVE_RUNS.c
        return [_run(row) for row in self.state.rows(select(*(getattr(r, f) for f in FIELDS)).where(
            r.collection == self.collection, r.started <= end, (r.finished.is_(None)) | (r.finished >= start)))]

    def running(self) -> dict[str, Any] | None:
        """The run in progress, if its process is alive (one that died is recorded as failed here)."""
        for run in self.recent(3):
            if run["status"] != "running":
                continue
            if _alive(run.get("pid")):
                return run
            self.finish(run["id"], "failed", {"trigger": run["trigger"],
                                              "reason": "its process ended without finishing the run"})
        return None


def _run(row: tuple) -> dict[str, Any]:
    """A run's row as a dict: its report's fields, then its columns (the columns win)."""
    return {**json.loads(row[-1]), **dict(zip(FIELDS[:-1], row[:-1]))}


def triggers(runs: Runs, settings: Settings, registry, now: float | None = None) -> list[str]:
    """The triggers that hold now (none while a run is in progress)."""
    now = time.time() if now is None else now
    if runs.running():
        return []
    s, last = settings.improve, next(iter(runs.recent(1)), None)
    since = last["started"] if last else 0.0
    held = []
    labels = len({qid_of(question) for question in runs.log.labels_since(runs.collection, since)})
    if labels >= s.new_labels:
        held.append(f"{labels} new labels since the last run (questions rated or reviewed, each once; "
                    f"improve.new_labels = {s.new_labels})")
    changed, documents = _corpus_change(registry, learned_from(runs, registry))
    if documents and changed / documents >= s.corpus_change:
        held.append(f"{changed} documents added, changed or deleted since the last run, {changed / documents:.0%} "
                    f"of the {documents} it started from (improve.corpus_change = {s.corpus_change:.0%})")
    drifting = Alerts(runs.log).firing_since(runs.collection, "QueryDrift")
    if drifting is not None and now - drifting > duration_s(s.drift_for):
        held.append(f"QueryDrift firing for {(now - drifting) / 3600:.1f} h (improve.drift_for = {s.drift_for})")
    if s.every and now - since > duration_s(s.every):
        held.append(f"the last run is older than improve.every = {s.every}")
    return held


def learned_from(runs: Runs, registry):
    """The version the live model last learned from: the live one when the last run ended, else the first."""
    last = next((r for r in runs.recent(5) if r["status"] != "running"), None)
    versions = sorted(registry.all(), key=lambda v: v.number)
    baseline = (last or {}).get("live_after")
    return next((v for v in versions if v.id == baseline), versions[0] if versions else None)


def _corpus_change(registry, base) -> tuple[int, int]:
    """Documents added, changed or deleted between `base` and the live corpus, and the documents of `base`. Counted
    along the versions each was built on (`parent`) up to their common one: a version rolled back, refused or never
    made live is on no such line (issue 49: a rollback and a refusal read as a 78 % change of an unchanged corpus)."""
    live = registry.live() if base is not None else None
    if live is None or (live.corpus_sha256 and live.corpus_sha256 == base.corpus_sha256):
        return 0, base.counts["documents"] if base else 0
    by_id = {v.id: v for v in registry.all()}
    ours, theirs = _line(by_id, live.id), _line(by_id, base.id)
    common = next((v for v in ours if v in theirs), None)
    apart = (ours[:ours.index(common)] + theirs[:theirs.index(common)] if common
             else [v for v in ours if by_id[v].number > base.number])  # records from before `parent`
    changed = sum(by_id[v].ingest.get(k, 0) or 0 for v in apart for k in ("added", "changed", "deleted"))
    return changed, base.counts["documents"]


def _line(by_id: dict, version_id: str | None) -> list[str]:
    """A version and those it was built on, newest first."""
    line: list[str] = []
    while version_id is not None and version_id in by_id and version_id not in line:
        line.append(version_id)
        version_id = by_id[version_id].parent
    return line


def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


def launch(collection: str, trigger: str, run_id: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A scheduled run in a process of its own (`ragship improve`), which lowers its own priority and bounds its
    memory (settings.improve); the scheduler does not wait for it. The run's row (`run_id`) exists before the
    process starts, so the next trigger check sees it in progress."""
    command = [sys.executable, "-m", "ragship", "--collection", collection, "improve", "--trigger", trigger,
               "--run-id", run_id, "--json"]
    return subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


class MemoryBound:
    """Watches the memory of this process and its children (a run's training happens in one): twice a second, its
    resident memory plus their peaks (tree_mb), the largest such sum kept. Past `limit_mb` (when given) it calls
    `over` (which records the failure) and ends the process, its children with it: training cannot be interrupted
    cleanly from outside."""

    def __init__(self, limit_mb: int | None = None, over=None):
        self.limit_mb, self.over, self.peak = limit_mb, over, 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._watch, name="ragship-memory-bound", daemon=True).start()

    def peak_mb(self) -> float:
        """The larger of the sampled sums and this process's own exact peak (VmHWM, so its spike between samples
        still counts). Not getrusage's: that peak carries over from the parent at fork, so a run the server
        started would begin at the server's size (measured: a child of a process holding 1.5 GB starts at 1,511)."""
        return max(self.peak, _status_kb(os.getpid(), "VmHWM:") / 1024)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, tree_mb())
            if self.limit_mb and self.peak_mb() > self.limit_mb:
                self.over(f"stopped: its resident memory reached {self.peak_mb():.0f} MB, over improve.memory_mb = "
                          f"{self.limit_mb}")
                os._exit(9)

    def stop(self) -> None:
        self._stop.set()


def tree_mb(pid: int | None = None) -> float:
    """A process's resident memory now plus each descendant's peak so far (VmHWM), in MB (Linux /proc; elsewhere
    0): samples of the children's resident memory alone miss their spikes (training's peaked at 2,257 MB where
    one-second samples saw 1,642). Pages the processes share count once per process: an upper bound."""
    root = pid or os.getpid()
    total, todo = _status_kb(root, "VmRSS:"), _children(root)
    while todo:
        child = todo.pop()
        total += _status_kb(child, "VmHWM:")
        todo += _children(child)
    return total / 1024


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except OSError:  # the task ended meanwhile
            pass
    return found


def _status_kb(pid: int, field: str) -> int:
    """A memory figure of /proc/PID/status (VmRSS: resident now, VmHWM: its peak), in KiB; 0 where unreadable."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field)), 0)

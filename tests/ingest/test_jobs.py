"""Upload jobs as a queue in the state store, on both backends: a job is run once by whichever worker takes it,
its progress is visible to every process, a job whose worker died is taken again when its lease lapses, and one
that keeps killing its worker is failed after `max_attempts`."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import update

from ragship.ingest.jobs import Jobs
from ragship.state import State
from ragship.state.tables import JOBS


def _finished(jobs: Jobs, job_id: str, within_s: float = 30) -> dict:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        job = jobs.get(job_id)
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    pytest.fail(f"job {job_id} did not finish: {job}")


def test_a_job_runs_once_on_one_of_several_workers_and_any_process_sees_it(state):
    ran, lock = [], threading.Lock()

    def run(job, observe):
        with lock:
            ran.append(job["id"])
        observe("embed", 2, 4)
        return [{"file": f, "ingested": True} for f in job["files"]]

    workers = [Jobs(state, run, poll_s=0.1) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        submitted = [workers[0].submit("k1", "default", [f"f{i}.md"], ("red",)) for i in range(6)]
        assert "key_id" not in submitted[0] and "groups" not in submitted[0]
        done = [_finished(workers[2], s["id"]) for s in submitted]  # followed from another "process"
    finally:
        for w in workers:
            w.stop()
    assert sorted(ran) == sorted(s["id"] for s in submitted)  # each exactly once
    assert all(j["status"] == "done" and j["progress"]["done"] == 2 and j["key_id"] == "k1" for j in done)


def test_a_job_whose_worker_died_is_taken_again_when_its_lease_lapses(state):
    started = threading.Event()

    def stuck(job, observe):  # a worker that stops mid-job without a word, as a killed process does
        started.set()
        time.sleep(3600)

    dead = Jobs(state, stuck, lease_s=1.0, poll_s=0.1)
    dead.owner = "elsewhere:1"
    dead._heartbeat = lambda job, done: None  # killed: no more lease renewals
    dead.start()
    job = dead.submit("k1", "default", ["a.md"], ())
    assert started.wait(10)
    dead.stop()
    survivor = Jobs(state, lambda job, observe: [{"file": "a.md", "ingested": True}], lease_s=1.0, poll_s=0.1)
    survivor.start()
    try:
        assert _finished(survivor, job["id"])["status"] == "done"
    finally:
        survivor.stop()
    with state.connect() as c:
        assert c.execute(JOBS.select().where(JOBS.c.id == job["id"])).one().attempts == 2


def test_a_job_interrupted_too_often_is_failed_with_the_reason(state):
    jobs = Jobs(state, lambda job, observe: [], poll_s=0.1, max_attempts=3)
    job = jobs.submit("k1", "default", ["a.md"], ())
    with state.connect() as c:  # three workers died running it
        c.execute(update(JOBS).where(JOBS.c.id == job["id"]).values(status="running", attempts=3, lease_until=0))
    jobs.start()
    try:
        failed = _finished(jobs, job["id"])
    finally:
        jobs.stop()
    assert failed["status"] == "failed" and "stopped 3 times" in failed["error"]


def test_an_error_in_the_work_fails_the_job_with_its_message(tmp_path):
    def broken(job, observe):
        raise OSError(28, "No space left on device", "/h/index")

    jobs = Jobs(State(None, tmp_path), broken, poll_s=0.1)
    jobs.start()
    try:
        failed = _finished(jobs, jobs.submit("k1", "default", ["a.md"], ())["id"])
    finally:
        jobs.stop()
    assert failed["status"] == "failed" and "no space" in failed["error"].lower()


def test_the_jobs_queued_in_a_window_are_read_without_a_worker(state):
    """What an incident's timeline reads (monitor/timeline.py): a collection's jobs queued in a window, oldest
    first, with who queued them, their groups, when and which process ran them; a queue with no run starts none."""
    jobs = Jobs(state)
    queued = {name: jobs.submit("k1", collection, [f"{name}.md"], ("red",))["id"]
              for name, collection in (("late", "default"), ("early", "default"), ("before", "default"),
                                       ("other", "notes"))}
    with state.connect() as c:
        for name, created in (("late", 120.0), ("early", 110.0), ("before", 50.0), ("other", 115.0)):
            c.execute(update(JOBS).where(JOBS.c.id == queued[name]).values(created=created, owner="host:1"))
    found = jobs.between("default", 100.0, 200.0)
    assert [j["id"] for j in found] == [queued["early"], queued["late"]]
    assert found[0]["created"] == 110.0 and found[0]["owner"] == "host:1" and found[0]["key_id"] == "k1"
    assert found[0]["groups"] == ["red"] and found[0]["files"] == ["early.md"] and found[0]["status"] == "queued"
    with pytest.raises(ValueError, match="run"):
        jobs.start()

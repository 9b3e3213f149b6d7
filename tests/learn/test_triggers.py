"""When the improvement loop starts a run: new labels, a changed corpus, query drift held too long, an interval;
never while a run is in progress, and a run whose process died is recorded as failed."""

import shutil
import time

import pytest
from conftest import DATA, make_engine

from ragship.learn.runs import Runs, triggers
from ragship.monitor.querylog import Observation, QueryLog
from ragship.state.tables import ALERT_STATE, IMPROVE_RUNS, upsert


def setup(tmp_path, cache_dir, **improve):
    docs = tmp_path / "docs"
    shutil.copytree(DATA / "docs", docs)
    engine = make_engine(tmp_path / "home", cache_dir, improve=improve)
    engine.ingest([docs])
    log = QueryLog(engine.state, "keep")
    return engine, log, Runs(log, "default"), docs


def test_new_labels_trigger_a_run_and_a_run_in_progress_holds_the_next(tmp_path, cache_dir):
    engine, log, runs, _ = setup(tmp_path, cache_dir, new_labels=3)
    for n in range(3):
        answer_id = log.record(Observation("k", "default", "ask", 1.0, f"question {n}", "answered"))
        assert not triggers(runs, engine.settings, engine.registry) or n == 2
        log.feedback(answer_id, "k", 1)
    assert triggers(runs, engine.settings, engine.registry)[0].startswith("3 new labels")
    run = runs.start("test")  # this process is alive: the run is in progress
    assert triggers(runs, engine.settings, engine.registry) == []
    runs.finish(run, "unchanged", {"live_after": "v1"})
    assert triggers(runs, engine.settings, engine.registry) == []  # those labels were the last run's


def test_a_sync_that_adds_a_fifth_of_the_documents_triggers_and_one_that_changes_nothing_does_not(tmp_path,
                                                                                                    cache_dir):
    engine, log, runs, docs = setup(tmp_path, cache_dir, corpus_change=0.2)
    runs.finish(runs.start("earlier"), "unchanged", {"live_after": "v1"})
    assert engine.ingest([docs]).new_version is False  # nothing changed
    assert triggers(runs, engine.settings, engine.registry) == []
    assert engine.registry.live().counts["documents"] == 6
    (docs / "new-0.md").write_text("# Note\n\nThe ferry to the island leaves at seven o'clock.\n")
    assert engine.ingest([docs]).added == 1  # 1 of 6 (17 %): under corpus_change
    assert triggers(runs, engine.settings, engine.registry) == []
    (docs / "new-1.md").write_text("# Note\n\nThe last ferry back leaves at nine o'clock.\n")
    assert engine.ingest([docs]).added == 1  # 2 of the 6 the model learned from: 33 %
    held = triggers(runs, engine.settings, engine.registry)
    assert len(held) == 1 and "2 documents added, changed or deleted" in held[0] and "33% of the 6" in held[0]


def test_drift_held_too_long_and_an_interval_trigger(tmp_path, cache_dir):
    engine, log, runs, _ = setup(tmp_path, cache_dir, drift_for="1h", every="1d")
    runs.finish(runs.start("earlier"), "unchanged", {"live_after": "v1"})
    with engine.state.ready() as c:
        upsert(c, ALERT_STATE, {"name": "QueryDrift", "collection": "default", "state": "firing",
                                "since": time.time() - 7200, "value": 0.0001}, ("name", "collection"))
    assert [t.split(" ")[0] for t in triggers(runs, engine.settings, engine.registry)] == ["QueryDrift"]
    later = triggers(runs, engine.settings, engine.registry, now=time.time() + 2 * 86400)
    assert any("improve.every = 1d" in t for t in later)


def test_a_run_whose_process_died_is_recorded_as_failed(tmp_path, cache_dir):
    engine, log, runs, _ = setup(tmp_path, cache_dir)
    run = runs.start("test")
    log.state.write(IMPROVE_RUNS.update().values(body='{"pid": 999999999}'))
    assert runs.running() is None
    assert runs.recent(1)[0]["status"] == "failed" and "ended without finishing" in runs.recent(1)[0]["reason"]
    assert runs.recent(1)[0]["id"] == run


def test_a_refused_run_raises_improve_refused_and_a_promoted_one_resolves_it(tmp_path, cache_dir):
    from ragship.collections import Collections
    from ragship.oversight import Oversight

    engine, log, runs, _ = setup(tmp_path, cache_dir)
    monitor = Oversight(Collections(engine)).monitor()
    assert monitor.signals("default", engine)[0]["improve_refused"] is None  # no run yet
    runs.finish(runs.start("test"), "refused", {"reason": "the gate refused the candidate"})
    fired = [e for e in monitor.tick()["events"] if e["alert"] == "ImproveRefused"]
    assert fired and fired[0]["event"] == "fired"
    time.sleep(0.01)
    runs.finish(runs.start("again"), "promoted", {"reason": "the gate passed"})
    resolved = [e for e in monitor.tick()["events"] if e["alert"] == "ImproveRefused"]
    assert resolved and resolved[0]["event"] == "resolved"


def test_a_scheduled_run_is_recorded_before_its_process_starts_so_the_next_check_starts_none(tmp_path, cache_dir,
                                                                                              monkeypatch):
    import subprocess

    from ragship.learn import loop as loop_module

    engine, log, _, _ = setup(tmp_path, cache_dir, new_labels=1)
    log.feedback(log.record(Observation("k", "default", "ask", 1.0, "question", "answered")), "k", 1)
    started, procs = [], []
    monkeypatch.setattr(loop_module, "launch", lambda *args, **kw: started.append(args) or procs.append(
        subprocess.Popen(["sleep", "30"])) or procs[-1])  # a run's process, slow to start (a real one imports torch)
    loop = loop_module.Loop(engine, log, "default")
    try:
        assert loop.check().startswith("1 new labels") and loop.check() is None  # checked again at once
        (run,) = Runs(log, "default").recent()
        assert len(started) == 1 and started[0][2] == run["id"] and run["pid"] == procs[0].pid
    finally:
        for proc in procs:
            proc.kill()


def test_a_run_id_with_no_run_in_progress_is_refused(tmp_path):
    """`ragship improve --run-id` (the scheduler's hand-off) runs only a run the scheduler recorded."""
    from ragship.errors import NotFound
    from ragship.state import State

    runs = Runs(QueryLog(State(None, tmp_path)), "default")
    with pytest.raises(NotFound, match="no improvement run 'made-up' in progress"):
        runs.adopt("made-up", 1)


def test_a_rolled_back_or_refused_version_is_no_corpus_change(tmp_path, cache_dir):
    """Issue 49, finding 7: "234 documents added, changed or deleted ... 78 %" counted a version rolled back and one
    never made live while the live corpus was the one the model learned from: a run for nothing."""
    engine, log, runs, docs = setup(tmp_path, cache_dir, corpus_change=0.2)
    runs.finish(runs.start("earlier"), "unchanged", {"live_after": "v1"})
    for n in range(2):
        (docs / f"new-{n}.md").write_text(f"# Note {n}\n\nThe ferry number {n} leaves at seven o'clock.\n")
    assert engine.ingest([docs]).version == "v2"
    assert triggers(runs, engine.settings, engine.registry)  # live v2: 2 of 6 added
    engine.releases().rollback("v1")
    assert triggers(runs, engine.settings, engine.registry) == []  # live v1 again: nothing changed
    held = make_engine(tmp_path / "home", cache_dir, improve={"corpus_change": 0.2}, release={"auto_promote": "never"})
    (docs / "new-2.md").write_text("# Note\n\nThe night ferry leaves at eleven o'clock.\n")
    assert held.ingest([docs]).candidate  # v3, built on v1, never live
    assert triggers(runs, held.settings, held.registry) == []

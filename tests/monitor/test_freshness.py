"""Freshness: the scheduler re-syncs a source within its objective when its files change; a source that can
no longer be read raises SourceStale while the live version keeps serving."""

import shutil
import time

from conftest import DATA, make_engine

from ragship.monitor.querylog import QueryLog
from ragship.monitor.schedule import Monitor


def wait_until(probe, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    return None


def test_sources_are_kept_fresh_and_a_broken_one_raises_its_alert(tmp_path, cache_dir):
    source = tmp_path / "docs"
    shutil.copytree(DATA / "docs", source)
    engine = make_engine(tmp_path / "home", cache_dir, sources=[{"path": source, "max_age": "4s"}])
    engine.warm_up()  # as a server does before it serves: the first query's model load is not the sync's
    engine.ingest([source])
    monitor = Monitor(QueryLog(engine.state), lambda: {"default": engine},
                      tmp_path / "monitor.lock")
    scheduler = monitor.schedule(every_s=0.5)
    try:
        (source / "tide-tables.md").write_text("# Tide tables\n\nThe tide tables are printed by the harbour office "
                                               "every Monday.\n")
        changed = time.monotonic()
        found = wait_until(lambda: any(h.doc_id.endswith("tide-tables.md") for h in
                                       engine.search("who prints the tide tables", k=3).hits), 10)
        took = time.monotonic() - changed
        assert found and took <= 4.0, f"re-synced after {took:.1f} s; the objective is 4 s"
        assert monitor.alerts.states() and all(s["state"] != "firing" for s in monitor.alerts.states())

        live = engine.registry.live().id
        shutil.move(source, tmp_path / "gone")  # the source can no longer be read
        fired = wait_until(lambda: [s for s in monitor.alerts.states()
                                    if s["name"] == "SourceStale" and s["state"] == "firing"], 15)
        assert fired and fired[0]["value"] > 1
    finally:
        scheduler.shutdown(wait=True)
    event = next(e for e in monitor.alerts.events() if e["alert"] == "SourceStale")
    assert event["sources"][0]["source"] == str(source) and "not found" in event["sources"][0]["last_error"].lower()
    assert engine.registry.live().id == live and engine.search("harbour").hits  # still serving


def test_a_remote_source_is_kept_fresh_too(tmp_path, cache_dir, s3_bucket):
    import boto3

    s3 = boto3.client("s3")
    s3.put_object(Bucket=s3_bucket, Key="kb/trams.md", Body=b"# Trams\n\nTrams run every ten minutes.\n")
    location = f"s3://{s3_bucket}/kb"
    engine = make_engine(tmp_path / "home", cache_dir, sources=[{"path": location, "max_age": "4s"}])
    engine.warm_up()
    engine.ingest([location])
    monitor = Monitor(QueryLog(engine.state), lambda: {"default": engine}, tmp_path / "monitor.lock")
    scheduler = monitor.schedule(every_s=0.5)
    try:
        s3.put_object(Bucket=s3_bucket, Key="kb/tides.md", Body=b"# Tides\n\nThe harbour office prints the tide "
                                                                 b"tables every Monday.\n")
        found = wait_until(lambda: any(h.doc_id == f"{location}/tides.md" for h in
                                       engine.search("who prints the tide tables", k=3).hits), 10)
    finally:
        scheduler.shutdown(wait=True)
    assert found
    [status] = monitor.freshness.status("default", engine.settings.sources)
    assert status["source"] == location and status["staleness"] < 1 and not status["last_error"]

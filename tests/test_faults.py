"""Faults made boring (scripts/fault_matrix.py runs the whole matrix): a full or read-only disk is a clear error
with the live version untouched and the next run completes; caches and the query log never fail a request;
a second writer waits its turn; promotions are ordered without the clock."""

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
from conftest import DATA, make_engine

from ragship.errors import InputError, StorageError, storage_error

root_only = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounting a tmpfs needs root")


def test_disk_errors_are_told_apart_from_other_errors():
    full = storage_error(OSError(28, "No space left on device", "/h/index/x.lance"))
    assert isinstance(full, StorageError) and full.http_status == 507 and "writing /h/index/x.lance" in str(full)
    lance = storage_error(RuntimeError("lance error: LanceError(IO): No space left on device (os error 28), x.rs"))
    assert lance is not None and "no space left" in str(lance)
    assert storage_error(OSError(30, "Read-only file system")).http_status == 503
    assert storage_error(OSError(2, "No such file")) is None and storage_error(ValueError("os error 28")) is None


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
import numpy as np
from ragship.embed.cache import EmbeddingCache
from ragship.monitor.querylog import Observation, QueryLog
from ragship.state import State

home = Path(sys.argv[1])
state = State(None, home)
state.ensure_schema()
cache = EmbeddingCache(home / "embeddings.sqlite")
cache.put_many("m", [(b"kept", np.ones(4, dtype=np.float32))])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))  # from here no file may grow: a full disk (for root too)
print("logged", QueryLog(state).record(Observation("k", "default", "search", 1.0, "q" * 5000, "results")))
cache.put_many("m", [(bytes([i]) * 8, np.ones(384, dtype=np.float32)) for i in range(200)])
print("cached", len(cache.get_many("m", [bytes([i]) * 8 for i in range(200)])), len(cache.get_many("m", [b"kept"])))
"""


def test_the_query_log_and_the_embedding_cache_do_not_fail_a_request_they_cannot_write(tmp_path):
    """A disk that takes no more bytes (the process's file-size limit at 1 byte, which binds root too): the
    request's observation and its vectors are dropped with a warning, nothing raises, what was cached still reads."""
    run = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "logged " in run.stdout and "cached 0 1" in run.stdout
    assert "not written" in run.stderr and "200 vectors not cached" in run.stderr


def test_a_second_writer_waits_its_turn_when_asked_to(tmp_path):
    from ragship.home import Home

    home, order, entered, release = Home(tmp_path), [], threading.Event(), threading.Event()

    def first():
        with home.exclusive():
            order.append("first in")
            entered.set()
            release.wait(30)
            order.append("first out")

    def second():
        with home.exclusive(wait_s=30):
            order.append("second in")

    holder = threading.Thread(target=first)
    holder.start()
    entered.wait(30)
    with pytest.raises(InputError, match="another ingest is running") as busy:
        with home.exclusive():
            pass
    assert busy.value.http_status == 409  # issue 32: a Conflict, not a 400 for the caller's input
    waiter = threading.Thread(target=second)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and order == ["first in"]  # it waits while the first holds the lock
    release.set()
    holder.join(30), waiter.join(30)
    assert order == ["first in", "first out", "second in"]


def test_the_most_recently_live_version_is_known_without_the_clock(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([DATA / "docs"])
    engine.ingest([DATA / "docs" / "handbook"])  # v2: fewer documents
    engine.releases().rollback()
    seqs = {v.id: [p["seq"] for p in v.release["promotions"]] for v in engine.registry.all()}
    assert seqs == {"v1": [1, 3], "v2": [2]}


@root_only
def test_a_full_disk_fails_an_ingest_cleanly_and_the_next_run_completes(tmp_path, cache_dir):
    from ragship.engine import Engine
    from ragship.settings import load_settings

    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        settings = load_settings(home=mount / "home", cache_dir=cache_dir, ingest={"min_free_mb": 0})
        engine = Engine(settings)
        engine.ingest([DATA / "docs" / "handbook"])
        filler = mount / "filler"
        free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        filler.write_bytes(b"\0" * free)
        with pytest.raises(Exception) as failed:
            Engine(settings).ingest([DATA / "docs"])
        assert isinstance(storage_error(failed.value), StorageError)
        assert Engine(settings).search("tram").index_version == "v1"  # the live version still serves
        filler.unlink()
        report = Engine(settings).ingest([DATA / "docs"])
        assert report.version == "v2" and not [f for f in Engine(settings).doctor() if f.problem]
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_lost_tag_does_not_stop_a_new_process_from_serving(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([DATA / "docs"])
    engine.store().table().tags.delete("v1")
    assert make_engine(tmp_path / "home", cache_dir).search("tram").hits
    assert [f.check for f in make_engine(tmp_path / "home", cache_dir).doctor() if f.problem] == ["v1 tag"]


def test_an_unreadable_embedding_cache_names_itself(tmp_path):
    from ragship.embed.cache import EmbeddingCache
    from ragship.errors import HomeFileDamaged

    (tmp_path / "embeddings.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(HomeFileDamaged, match="embeddings.sqlite cannot be read.*doctor --repair"):
        EmbeddingCache(tmp_path / "embeddings.sqlite")


def test_an_ingest_stops_at_the_disk_floor_naming_it(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([DATA / "docs" / "handbook"])
    greedy = make_engine(tmp_path / "home", cache_dir, ingest={"min_free_mb": 1e12})
    with pytest.raises(StorageError, match="below ingest.min_free_mb = 1e\\+12"):
        greedy.ingest([DATA / "docs"])
    assert make_engine(tmp_path / "home", cache_dir).search("tram").index_version == "v1"
    assert make_engine(tmp_path / "home", cache_dir).ingest([DATA / "docs"]).version == "v2"


def test_a_broken_state_file_fires_its_alert_and_a_background_job_reports_it_in_one_line(tmp_path, cache_dir, caplog):
    from ragship.collections import Collections
    from ragship.monitor.events import Events
    from ragship.monitor.schedule import background
    from ragship.oversight import Oversight

    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([DATA / "docs" / "handbook"])
    oversight = Oversight(Collections(engine))
    monitor = oversight.monitor()
    (engine.home.index / "LIVE").write_text("{")
    done = background(monitor.tick)()  # the round itself completes: it is how the on-call hears of it
    assert [(e["alert"], e["severity"]) for e in done["events"]] == [("VersionsUnreadable", "critical")]
    (seen,) = Events(oversight.query_log).between("default", 0, 2e9)
    assert seen["kind"] == "versions unreadable" and "LIVE cannot be read" in seen["text"]
    with caplog.at_level("ERROR", logger="ragship.monitor"):
        assert background(oversight.learning(None).check)() is None  # did not raise into the scheduler
    (logged,) = [r for r in caplog.records if r.name == "ragship.monitor"]
    assert "LIVE cannot be read" in logged.getMessage() and "doctor --repair" in logged.getMessage()
    assert logged.exc_info is None


def test_a_request_past_its_time_limit_is_a_503_naming_the_limit():
    import asyncio

    from ragship.errors import RequestTimeout
    from ragship.server.deps import Service

    service = Service(None, None, None, None, None, None, None, timeout_s=0.2)
    with pytest.raises(RequestTimeout, match="server.request_timeout_s = 0.2 s"):
        asyncio.run(service.run(time.sleep, 1.0))
    assert asyncio.run(service.run(lambda: "fast")) == "fast"


@pytest.mark.parametrize("kind", ["data", "_indices"])
def test_a_data_file_zeroed_at_its_size_is_a_clear_error_naming_it(tmp_path, cache_dir, kind):
    """Issue 31 item 3: a Lance file overwritten with zeros (the size check passes) crashed search with a
    96-line ArrowInvalid traceback; a read that fails now checks the version's checksums and names the file."""
    from ragship.errors import HomeFileDamaged

    home = tmp_path / "home"
    make_engine(home, cache_dir).ingest([DATA / "docs"])
    victim = sorted((home / "index/lance/chunks.lance" / kind).rglob("*.lance"))[0]
    victim.write_bytes(bytes(victim.stat().st_size))
    engine = make_engine(home, cache_dir)  # a new process: the live version's files pass the size check
    for call in (lambda: engine.search("harbour", "hybrid"), lambda: engine.ask("Who designed the power station?")):
        with pytest.raises(HomeFileDamaged, match=rf"{victim.name}: content changed.*doctor --repair"):
            call()

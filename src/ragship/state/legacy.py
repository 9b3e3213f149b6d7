"""A home's state from before the state store, imported once: API keys (keys.json), upload jobs (jobs/*.json) and
the query log with the monitor's tables (monitor.sqlite). Each file is read under the home's import lock, its rows
are written in one transaction, and only then is it renamed NAME.imported (kept, never deleted). A file that
cannot be read is left where it is, with a warning: `ragship doctor` names it and says what to do, and the API
keys fail closed until then (access.py)."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from ragship.errors import RagshipError
from ragship.fsio import read_json
from ragship.home import Home
from ragship.state import tables as t

if TYPE_CHECKING:
    from ragship.state import State

log = logging.getLogger("ragship.state")
# the old query log's tables, by their new names (the old ones lack the ragship_ prefix)
LOGGED = (t.REQUESTS, t.FEEDBACK, t.DRIFT_REFERENCE, t.SOURCE_SYNC, t.ALERT_STATE, t.ALERT_EVENTS)
BATCH = 5000


def import_home(state: State, root: Path) -> None:
    home = Home(root)
    files = [home.legacy_keys, home.legacy_query_log, *_job_files(home.legacy_jobs)]
    if not any(p.exists() for p in files):
        return
    with FileLock(root / "state-import.lock", thread_local=False):
        for path, read in ((home.legacy_keys, _keys), (home.legacy_query_log, _query_log)):
            _import(state, path, read)
        for path in _job_files(home.legacy_jobs):
            _import(state, path, _job)


def _import(state: State, path: Path, read) -> None:
    if not path.exists():  # another process imported it while this one waited for the lock
        return
    try:
        with state.connect() as c:
            n = read(c, path)
    except (RagshipError, sqlite3.DatabaseError, ValueError, TypeError, KeyError) as e:
        log.warning("%s was not imported into the state store (%s); `ragship doctor` says what to do", path, e)
        return
    path.rename(path.with_name(path.name + ".imported"))
    log.info("imported %s (%d rows) into the state store", path, n)


def _keys(c, path: Path) -> int:
    keys = read_json(path)["keys"]
    for k in keys:
        t.upsert(c, t.KEYS, {**k, "groups": json.dumps(k["groups"])}, ("id",), replace=False)
    return len(keys)


def _job(c, path: Path) -> int:
    job = read_json(path)
    if job["status"] in ("queued", "running"):  # its process is gone, and old records cannot be run again
        job.update(status="failed", error="the server stopped before this upload was ingested; upload it again")
    row = {"id": job["id"], "key_id": job["key_id"], "collection": job["collection"], "status": job["status"],
           "created": path.stat().st_mtime, "attempts": 1, "body": json.dumps(job)}
    t.upsert(c, t.JOBS, row, ("id",), replace=False)
    return 1


def _query_log(c, path: Path) -> int:
    n = 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as old:
        have = {r[0] for r in old.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in LOGGED:
            name = table.name.removeprefix("ragship_")
            if name in have:
                n += _copy(c, old, name, table)
    return n


def _copy(c, old: sqlite3.Connection, name: str, table) -> int:
    columns = [r[1] for r in old.execute(f"PRAGMA table_info({name})") if r[1] in table.c]
    keys = tuple(col.name for col in table.primary_key)
    cursor, n = old.execute(f"SELECT {', '.join(columns)} FROM {name}"), 0
    while rows := cursor.fetchmany(BATCH):
        c.execute(t.insert_new(c, table, keys), [dict(zip(columns, r)) for r in rows])
        n += len(rows)
    return n


def _job_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []

"""The doctor's checks of a home's files besides the index (recovery/doctor.py runs them). Each returns a
Finding; with `repair`, a file whose loss costs nothing but derived or historical data is quarantined (renamed
`NAME.corrupt-TIME`, never deleted) so that a fresh one starts; one that cannot be rebuilt (API keys, deleted
documents' tombstones) is explained, and the home keeps failing closed until it is restored."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

from ragship.access import KeyStore
from ragship.answer.calibrate import Calibration, CalibrationStore
from ragship.errors import REPAIR, RagshipError, HomeFileDamaged
from ragship.fsio import atomic_write_json, read_json
from ragship.home import Home
from ragship.index.tombstones import Tombstones
from ragship.settings import Settings
from ragship.state import State, migrate, redact



@dataclass
class Finding:
    check: str
    problem: str | None = None  # None: healthy
    remedy: str = ""  # what --repair did, or what to do
    repaired: bool = False
    detail: str = ""  # what a healthy check looked at

    @property
    def ok(self) -> bool:
        return self.problem is None or self.repaired

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


Check = Callable[[bool], Finding]


def checks(home: Home, state: State, calibrations: CalibrationStore, settings: Settings) -> list[Check]:
    derived = [("last ingest report", home.last_ingest_path, "it is rewritten by the next ingest"),
               ("build journal", home.index / "BUILD", "the next ingest starts from the live version"),
               ("dead letter", home.dead_letter, "failed files are listed again by the next ingest")]
    return [partial(_calibrations, calibrations), partial(_state, state), partial(_keys, state),
            partial(_tombstones, home.tombstones),
            *(partial(_json, name, path, why) for name, path, why in derived), partial(_jobs, home.legacy_jobs),
            partial(_database, "query log", home.legacy_query_log, "a new query log starts; drift and business "
                    "signals restart from it"), partial(_cache, home.cache_dir / "embeddings.sqlite"),
            partial(_models, settings)]


def plain(e: Exception) -> str:
    """An error's message without the advice to run the doctor (the doctor's table says what it did)."""
    return str(e).replace(f"; {REPAIR}", "")


def quarantine(path: Path) -> Path:
    """Rename a damaged file (and SQLite's -wal/-shm beside it) out of the way; the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.rename(target)
    for extra in ("-wal", "-shm"):
        side = path.with_name(path.name + extra)
        if side.exists():
            side.rename(target.with_name(target.name + extra))
    return target


def _calibrations(store: CalibrationStore, repair: bool) -> Finding:
    files = sorted(store.folder.glob("*.json")) if store.folder.is_dir() else []
    bad = []
    for path in files:
        try:
            Calibration.load(path)
        except HomeFileDamaged as e:
            bad.append((path, plain(e)))
    if not bad:
        return Finding("calibrations", detail=f"{len(files)} readable")
    found = Finding("calibrations", "; ".join(problem for _, problem in bad),
                    "`ragship doctor --repair` sets them aside; then `ragship calibrate DATASET` fits them again "
                    "(answers use the default confidence model meanwhile)")
    if repair:
        moved = [quarantine(path).name for path, _ in bad]
        found.repaired, found.remedy = True, f"set aside as {', '.join(moved)}; run `ragship calibrate DATASET`"
    return found


def _state(state: State, repair: bool) -> Finding:
    """The state store: SQLite's integrity check on HOME/state.sqlite; a PostgreSQL store must answer."""
    path = Home(state.home).state_sqlite
    problem = _sqlite_problem(path) if state.sqlite else None
    if problem is not None:
        return Finding("state store", f"{path}: {problem}", f"restore {path.name} from a backup (it holds the API "
                       "keys, upload jobs, query log and alerts); to start an empty one instead, move it aside")
    try:
        with state.ready(read=True) as c:
            at = migrate.revision(c)
    except RagshipError as e:
        return Finding("state store", plain(e), "check that the database is running and `state.url`")
    return Finding("state store", detail=f"{redact(state.url)}, schema revision {at}")


def _keys(state: State, repair: bool) -> Finding:
    try:
        n = len(KeyStore(state).records())
    except HomeFileDamaged as e:
        return Finding("API keys", plain(e), "cannot be rebuilt (only hashes are kept): restore keys.json from a "
                       "backup; the server refuses every key until then (fails closed)")
    except RagshipError as e:
        return Finding("API keys", plain(e), "see the state store's finding")
    return Finding("API keys", detail=f"{n} keys readable")


def _tombstones(path: Path, repair: bool) -> Finding:
    try:
        n = len(read_json(path, default={}))
    except HomeFileDamaged as e:
        backup = Tombstones(path).backup_path
        try:
            kept = read_json(backup)
        except HomeFileDamaged:
            kept = None
        if kept is None:
            return Finding("deleted documents", plain(e), f"restore {path.name} from a backup: it hides deleted "
                           "documents from every version; searches fail until then rather than show them")
        found = Finding("deleted documents", plain(e), f"`ragship doctor --repair` restores it from {backup.name}")
        if repair:
            quarantine(path)
            atomic_write_json(path, kept)
            found.repaired, found.remedy = True, f"restored {len(kept)} tombstones from {backup.name}"
        return found
    return Finding("deleted documents", detail=f"{n} tombstones readable")


def _json(name: str, path: Path, why: str, repair: bool) -> Finding:
    try:
        read_json(path)
    except HomeFileDamaged as e:
        found = Finding(name, plain(e), f"`ragship doctor --repair` sets it aside: {why}")
        if repair:
            found.repaired, found.remedy = True, f"set aside as {quarantine(path).name}: {why}"
        return found
    return Finding(name, detail="readable" if path.exists() else "none")


def _jobs(folder: Path, repair: bool) -> Finding:
    bad = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            read_json(path)
        except HomeFileDamaged:
            bad.append(path)
    if not bad:
        return Finding("upload jobs", detail="readable")
    found = Finding("upload jobs", f"{len(bad)} job records cannot be read: {', '.join(p.name for p in bad[:3])}",
                    "`ragship doctor --repair` sets them aside (their uploads' documents are in the index)")
    if repair:
        for path in bad:
            quarantine(path)
        found.repaired, found.remedy = True, f"{len(bad)} job records set aside"
    return found


def _database(name: str, path: Path, why: str, repair: bool) -> Finding:
    problem = _sqlite_problem(path)
    if problem is None:
        return Finding(name, detail="integrity check ok" if path.exists() else "none yet")
    found = Finding(name, f"{path}: {problem}", f"`ragship doctor --repair` sets it aside: {why}")
    if repair:
        found.repaired, found.remedy = True, f"set aside as {quarantine(path).name}: {why}"
    return found


def _cache(path: Path, repair: bool) -> Finding:
    """The embedding cache: a damaged file is set aside (it is only a cache); entries whose vector does not have
    their model's width (a torn or foreign write) are deleted, and embedded again when next needed."""
    if _sqlite_problem(path) is not None:
        return _database("embedding cache", path, "texts are embedded again when next needed", repair)
    if not path.exists():
        return Finding("embedding cache", detail="none yet")
    with sqlite3.connect(path) as db:
        widths = {m: w for m, w, _ in db.execute(  # ascending counts: each model's most common width wins
            "SELECT model, length(vector) AS w, count(*) AS n FROM embeddings GROUP BY model, w ORDER BY n")}
        bad = sum(db.execute("SELECT count(*) FROM embeddings WHERE model = ? AND length(vector) != ?",
                             (m, w)).fetchone()[0] for m, w in widths.items())
        if not bad:
            return Finding("embedding cache", detail=f"{len(widths)} models, entries consistent")
        found = Finding("embedding cache", f"{bad} entries with a vector of the wrong width",
                        "`ragship doctor --repair` deletes them (they are embedded again when next needed)")
        if repair:
            for m, w in widths.items():
                db.execute("DELETE FROM embeddings WHERE model = ? AND length(vector) != ?", (m, w))
            found.repaired, found.remedy = True, f"{bad} entries deleted"
        return found


def _models(settings: Settings, repair: bool) -> Finding:
    missing = [f"{name} = {value}" for name, value in (("embed.model", settings.embed.model),
                                                        ("rerank.model", settings.rerank.model),
                                                        ("answer.qa_model", settings.answer.qa_model))
               if value and value.startswith(("/", ".", "~")) and not Path(value).expanduser().is_dir()]
    if not missing:
        return Finding("model folders", detail="every configured model folder exists")
    return Finding("model folders", f"no such folder: {'; '.join(missing)}", "restore the folder, train it again "
                   "(`ragship adapt`), or point the setting elsewhere in ragship.toml")


def _sqlite_problem(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as e:
        return f"{type(e).__name__}: {e}"
    return None if rows == [("ok",)] else "; ".join(r[0] for r in rows[:3])

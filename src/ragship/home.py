"""The data home: where each piece of a collection's state lives, the one-writer lock, and the record of the
last ingest. Every path is named here once; the parts that own a file are handed its path."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock, Timeout

from ragship.errors import Conflict
from ragship.fsio import atomic_write_json, read_json


class Home:
    def __init__(self, root: Path, cache_dir: Path | None = None, index_uri: str | None = None):
        self.root = Path(root)
        self.cache_dir = Path(cache_dir or self.root / "cache")
        self.index_uri = index_uri  # the chunks table on an object store (index.uri), else in HOME/index/lance

    index = property(lambda self: self.root / "index")
    lance = property(lambda self: self.index_uri or self.index / "lance")
    tombstones = property(lambda self: self.index / "tombstones.json")
    ray_spill = property(lambda self: self.index / "ray-spill.jsonl")  # local even when the index is not
    calibration = property(lambda self: self.index / "calibration")
    uploads = property(lambda self: self.root / "uploads")
    models = property(lambda self: self.root / "models")
    datasets = property(lambda self: self.root / "datasets")  # labeled sets from production (learn/datasets.py)
    collections = property(lambda self: self.root / "collections")
    dead_letter = property(lambda self: self.root / "dead_letter.json")
    last_ingest_path = property(lambda self: self.root / "last_ingest.json")
    started = property(lambda self: self.root / "started.json")  # the settings of the last server start
    state_sqlite = property(lambda self: self.root / "state.sqlite")  # the state store unless state.url names one
    # files from before the state store, imported into it once (state/legacy.py)
    legacy_keys = property(lambda self: self.root / "keys.json")
    legacy_jobs = property(lambda self: self.root / "jobs")
    legacy_query_log = property(lambda self: self.root / "monitor.sqlite")
    scratch = property(lambda self: self.root / "tune")

    def __str__(self) -> str:
        return str(self.root)

    @contextmanager
    def exclusive(self, wait_s: float = 0) -> Iterator[None]:
        """One writer per home, across processes: a second concurrent writer waits up to `wait_s` seconds (0: it
        fails at once) instead of interleaving commits (filelock; the lock goes with the process that held it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / "ingest.lock", thread_local=False)
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            waited = f" (waited {wait_s:.0f} s)" if wait_s else ""
            raise Conflict(f"another ingest is running on {self.root}{waited}; wait for it to finish") from None
        try:
            yield
        finally:
            lock.release()

    def last_ingest(self) -> dict[str, Any] | None:
        return read_json(self.last_ingest_path)

    def record_ingest(self, report: dict[str, Any]) -> None:
        atomic_write_json(self.last_ingest_path, report)

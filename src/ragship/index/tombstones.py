"""Deleted documents. A deletion commits a new version without the document, and also records its id here, so
that no version still served or rolled back to can return it: every search hides these ids inside the index
query. An id is cleared when a document of that id is uploaded again."""

from __future__ import annotations

import threading
from pathlib import Path

from ragship.fsio import atomic_write_json, read_json
from ragship.util.clock import now
from ragship.util.files import FileCache


class Tombstones:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        # a list that breaks while serving keeps hiding what it hid (a new process fails until it is restored)
        self._ids = FileCache(path, lambda p: frozenset(read_json(p, default={})), last_good=True)

    def ids(self) -> frozenset[str]:
        return self._ids.get()

    def add(self, doc_ids: list[str]) -> None:
        self._update(lambda d: d | {i: now() for i in doc_ids})

    def clear(self, doc_ids: list[str]) -> None:
        self._update(lambda d: {k: v for k, v in d.items() if k not in set(doc_ids)})

    @property
    def backup_path(self) -> Path:
        return self.path.with_name("tombstones.backup.json")  # a second copy: `doctor --repair` restores it

    def _update(self, change) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ids = change(read_json(self.path, default={}))
            atomic_write_json(self.path, ids)
            atomic_write_json(self.backup_path, ids)
            self._ids.forget()

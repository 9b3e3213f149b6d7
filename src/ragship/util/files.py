"""Files that other processes change: a value re-read only when its file's modification time changes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Generic, TypeVar

from ragship.errors import HomeFileDamaged

T = TypeVar("T")


class FileCache(Generic[T]):
    """`get()` returns `load(path)`, loaded again only after the file changed (or appeared or vanished), so a
    key created by the CLI, a tombstone or a new calibration is seen by a running server without a restart."""

    def __init__(self, path: Path, load: Callable[[Path], T], last_good: bool = False):
        self.path, self._load, self.last_good = path, load, last_good  # last_good: see get()
        self._cached: tuple[int, T] | None = None
        self._lock = threading.Lock()

    def stamp(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def get(self) -> T:
        """With `last_good`, a file that became unreadable (HomeFileDamaged) leaves the last value in force, read
        again at each call until the file is repaired; a first read that fails raises."""
        stamp = self.stamp()
        with self._lock:
            if self._cached is None or self._cached[0] != stamp:
                try:
                    self._cached = (stamp, self._load(self.path))
                except HomeFileDamaged:
                    if not self.last_good or self._cached is None:
                        raise
            return self._cached[1]

    def forget(self) -> None:
        """Drop the cached value (after this process wrote the file within the clock's resolution)."""
        with self._lock:
            self._cached = None

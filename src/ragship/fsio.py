"""Crash-safe small-file writes: write a temporary file, fsync, rename over the target, fsync the folder."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ragship.errors import REPAIR, HomeFileDamaged


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON in `path` (`default` when there is no such file); HomeFileDamaged naming the file and the repair
    when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as e:  # ValueError: JSON and UTF-8 decoding errors
        raise corrupt(path, e) from None


def corrupt(path: Path, cause: object) -> HomeFileDamaged:
    reason = f"{type(cause).__name__}: {cause}" if isinstance(cause, Exception) else str(cause)
    return HomeFileDamaged(f"{path} cannot be read ({reason}); {REPAIR}")


def database_error(path: Path, e: Exception) -> Exception:
    """What to raise for an SQLite error opening a state database: a lock timeout as it is, anything else ("file
    is not a database", "database disk image is malformed") as HomeFileDamaged naming the file."""
    return e if "locked" in str(e) else corrupt(path, e)

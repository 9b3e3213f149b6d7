"""The files a command writes on request (--out, --report, --save): a path it cannot write is one error line naming
it and what to do (exit 2), checked before the work where it can be, as `ragship export` does for its archive."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ragship.errors import InputError, storage_error
from ragship.fsio import atomic_write_text


def writable(path: Optional[Path]) -> Optional[Path]:
    """An option's callback: refuse a path in a folder that does not exist, or a folder, before any work is done
    (an evaluation's --report after its run)."""
    if path is None:
        return None
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: there is no folder {path.parent}; create it or give a path in a "
                         "folder that exists")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder; give a file's path")
    return path


def write_file(path: Path, text: str) -> None:
    """`text` into `path`, whole or not at all (fsio.atomic_write_text); a full or read-only disk is a StorageError."""
    writable(path)
    try:
        atomic_write_text(path, text)
    except OSError as e:
        disk = storage_error(e)
        if disk is not None:
            raise disk from None
        raise InputError(f"cannot write {path}: {e.strerror or e}; give a path in a folder you may write to") \
            from None

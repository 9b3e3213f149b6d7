"""The files a command writes on request (--out, --report, --save, a folder to export into, the settings file that
`tune` and `adapt` update): a path it cannot write is one error line naming it and what to do (exit 2), checked
before the work where it can be, as `ragship export` does for its archive."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from ragship.errors import InputError, storage_error
from ragship.fsio import atomic_write_text

IN_A_FOLDER = "give a path in a folder you may write to"
A_FOLDER = "give a folder you may write to"


def writable(path: Optional[Path]) -> Optional[Path]:
    """An option's callback: refuse a path in a folder that does not exist or that this user may not write to, or
    a folder, before any work is done (an evaluation's --report after its run)."""
    if path is None:
        return None
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: there is no folder {path.parent}; create it or give a path in a "
                         "folder that exists")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder; give a file's path")
    _may_write(path, path.parent, IN_A_FOLDER)
    return path


def writable_folder(path: Optional[Path]) -> Optional[Path]:
    """An argument's callback for a folder a command writes files into (made, with its parents, where it does not
    exist): refuse a file, a path under a file, or a place this user may not write to, before any work is done."""
    if path is None:
        return None
    found = _nearest(path)
    if not found.is_dir():
        where = "it is a file" if found == path else f"{found} is a file, not a folder"
        raise InputError(f"cannot write {path}: {where}; {A_FOLDER}")
    _may_write(path, found, A_FOLDER)
    return path


def writable_settings(path: Path) -> Path:
    """The settings file a command will update at its end (`tune`, `adapt`), checked before its work: not a folder,
    and in a place this user may write to (the file is replaced whole: its folder must be writable)."""
    if path.is_dir():
        raise InputError(f"cannot write the settings file {path}: it is a folder; set RAGSHIP_CONFIG to a file's "
                         "path, or run without --write")
    found = _nearest(path.parent)
    if not found.is_dir() or not os.access(found, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the settings file {path}: {found} is not a folder you may write to; set "
                         "RAGSHIP_CONFIG to a writable path, or run without --write")
    return path


@contextmanager
def writing(path: Path, hint: str = IN_A_FOLDER) -> Iterator[None]:
    """Writes to `path` (a file, or a folder and its files): an OSError about it (or its folder, or a folder above
    it) is one error naming it and `hint`; a full or read-only disk is a StorageError; any other OSError (a file
    the command reads) is raised as it was."""
    try:
        yield
    except OSError as e:
        disk = storage_error(e)
        if disk is not None:
            raise disk from None
        if not _about(e, path):
            raise
        raise InputError(f"cannot write {path}: {e.strerror or e}; {hint}") from None


def write_file(path: Path, text: str) -> None:
    """`text` into `path`, whole or not at all (fsio.atomic_write_text); a full or read-only disk is a StorageError."""
    writable(path)
    with writing(path):
        atomic_write_text(path, text)


def write_files(folder: Path, texts: dict[str, str]) -> list[Path]:
    """Each of `texts` ({file name: text}) into its file in `folder`, made with its parents where it does not
    exist; the paths written."""
    writable_folder(folder)
    with writing(folder, A_FOLDER):
        folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_file(folder / name, text)
    return [folder / name for name in texts]


def _nearest(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists."""
    return next((p for p in (path, *path.absolute().parents) if p.exists()), Path(path.absolute().anchor))


def _may_write(path: Path, folder: Path, hint: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: you may not write to {folder}; {hint}")


def _about(e: OSError, path: Path) -> bool:
    """Whether `e` is about `path`: it names no file, or `path`, a file in it or beside it (a temporary file), or a
    folder above it (one that could not be made)."""
    named = [Path(n).absolute() for n in (e.filename, e.filename2) if isinstance(n, (str, os.PathLike))]
    target = path.absolute()
    return not named or any(n == target or target in n.parents or n.parent == target.parent or n in target.parents
                            for n in named)

"""What a Lance version reads, and checksums of it: each version's record keeps "size:blake2b" of every data,
deletion and index file its version needs, so a file that was changed, truncated or removed is found (by
`ragship doctor`, and before a version is made live) instead of served. Lance never rewrites a file in place, so
a file's sum is computed once and carried over from the parent version's record.

`root` is the table's location: a local folder or an object-store URI (s3://...), read through pyarrow's
file systems (credentials and endpoint from the environment, as Lance reads them)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Mapping

from pyarrow import fs as pafs


def version_files(dataset, root: str) -> dict[str, int]:
    """The files one Lance version reads (relative to the table folder), with their sizes."""
    where = filesystem, base = location(root)  # resolved once: on S3 each resolution builds a client
    files = {}
    for fragment in dataset.get_fragments():
        meta = fragment.metadata
        for data in meta.data_files():
            files[f"data/{data.path}"] = data.file_size_bytes or _size(where, f"data/{data.path}")
        if meta.deletion_file is not None:
            name = meta.deletion_file.path(meta.id)
            files[name] = _size(where, name)
    for index in dataset.list_indices():
        found = filesystem.get_file_info(pafs.FileSelector(f"{base}/_indices/{index['uuid']}", recursive=True,
                                                           allow_not_found=True))
        files.update({f.path[len(base) + 1:]: f.size for f in found if f.type == pafs.FileType.File})
    return files


def disk_use(root: str, tags: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per tag: the bytes its version reads (data, deletion and index files) and the bytes no other of `tags`
    reads (what deleting it alone would free). Versions share every file they did not change."""
    import lance

    files = {}
    for tag in tags:
        try:
            files[tag] = version_files(lance.dataset(str(root), version=tag), root)
        except ValueError:  # its manifest is gone (set aside by `doctor --repair`): it reads nothing
            files[tag] = {}
    users: dict[str, int] = {}
    for used in files.values():
        for name in used:
            users[name] = users.get(name, 0) + 1
    return {tag: {"bytes": sum(used.values()), "own_bytes": sum(n for f, n in used.items() if users[f] == 1)}
            for tag, used in files.items()}


def checksums(root: str, tag: str, known: Mapping[str, str]) -> dict[str, str]:
    """{file: "size:blake2b"} for the files the tagged version reads, taking the sums in `known` for the files
    it has."""
    import lance

    files, where = version_files(lance.dataset(root, version=tag), root), location(root)
    return {name: known.get(name) or _sum(where, name) for name in sorted(files)}


def damaged(root: str, sums: Mapping[str, str], deep: bool = True) -> list[str]:
    """The files that no longer match their recorded sums: "missing", "size" (a stat: cheap) or, when `deep`,
    "content" (every byte read)."""
    where = filesystem, base = location(root)
    problems = []
    for name, recorded in sums.items():
        info = filesystem.get_file_info(f"{base}/{name}")
        size = recorded.split(":", 1)[0]
        if info.type != pafs.FileType.File:
            problems.append(f"{name}: missing")
        elif str(info.size) != size:
            problems.append(f"{name}: size {info.size}, recorded {size}")
        elif deep and _sum(where, name) != recorded:
            problems.append(f"{name}: content changed")
    return problems


def total_bytes(root: str) -> int:
    """Every byte stored under `root` (all versions, tagged or not)."""
    filesystem, base = location(root)
    found = filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    return sum(f.size for f in found if f.type == pafs.FileType.File)


def location(root: str) -> tuple[pafs.FileSystem, str]:
    """The file system holding `root` and the path of `root` in it."""
    if "://" in root:
        return pafs.FileSystem.from_uri(root)
    return pafs.LocalFileSystem(), str(Path(root).resolve())


def _sum(where: tuple[pafs.FileSystem, str], name: str) -> str:
    filesystem, base = where
    digest, size = hashlib.blake2b(), 0
    with filesystem.open_input_stream(f"{base}/{name}") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return f"{size}:{digest.hexdigest()[:32]}"


def _size(where: tuple[pafs.FileSystem, str], name: str) -> int:
    filesystem, base = where
    info = filesystem.get_file_info(f"{base}/{name}")
    return info.size if info.type == pafs.FileType.File else 0

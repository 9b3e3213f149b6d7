"""What a Lance version reads, and checksums of it: each version's record keeps "size:blake2b" of every data,
deletion and index file its version needs, so a file that was changed, truncated or removed is found (by
`ragship doctor`, and before a version is made live) instead of served. Lance never rewrites a file in place, so
a file's sum is computed once and carried over from the parent version's record."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Mapping


def version_files(dataset, root: Path) -> dict[str, int]:
    """The files one Lance version reads (relative to the table folder), with their sizes."""
    files = {}
    for fragment in dataset.get_fragments():
        meta = fragment.metadata
        for data in meta.data_files():
            files[f"data/{data.path}"] = data.file_size_bytes or _size(root / "data" / data.path)
        if meta.deletion_file is not None:
            name = meta.deletion_file.path(meta.id)
            files[name] = _size(root / name)
    for index in dataset.list_indices():
        folder = root / "_indices" / index["uuid"]
        files.update({str(p.relative_to(root)): p.stat().st_size for p in folder.rglob("*") if p.is_file()})
    return files


def disk_use(root: Path, tags: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per tag: the bytes its version reads (data, deletion and index files) and the bytes no other of `tags`
    reads (what deleting it alone would free). Versions share every file they did not change."""
    import lance

    files = {tag: version_files(lance.dataset(str(root), version=tag), root) for tag in tags}
    users: dict[str, int] = {}
    for used in files.values():
        for name in used:
            users[name] = users.get(name, 0) + 1
    return {tag: {"bytes": sum(used.values()), "own_bytes": sum(n for f, n in used.items() if users[f] == 1)}
            for tag, used in files.items()}


def checksums(root: Path, files: Mapping[str, int], known: Mapping[str, str]) -> dict[str, str]:
    """{file: "size:blake2b"} for `files`, taking the sums in `known` for the files it has."""
    return {name: known.get(name) or _sum(root / name) for name in sorted(files)}


def damaged(root: Path, sums: Mapping[str, str], deep: bool = True) -> list[str]:
    """The files that no longer match their recorded sums: "missing", "size" (a stat: cheap) or, when `deep`,
    "content" (every byte read)."""
    problems = []
    for name, recorded in sums.items():
        path = root / name
        size = recorded.split(":", 1)[0]
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif str(path.stat().st_size) != size:
            problems.append(f"{name}: size {path.stat().st_size}, recorded {size}")
        elif deep and _sum(path) != recorded:
            problems.append(f"{name}: content changed")
    return problems


def _sum(path: Path) -> str:
    with path.open("rb") as f:
        return f"{path.stat().st_size}:{hashlib.file_digest(f, 'blake2b').hexdigest()[:32]}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0

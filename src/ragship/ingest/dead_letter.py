"""The dead-letter file: every input that could not be ingested, why, since when, and how often. Each ingest
refreshes the entries of the sources it scanned; `ragship ingest --retry-failed` reads the rest back."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from ragship.fsio import atomic_write_json, read_json
from ragship.util.clock import now
from ragship.ingest.document import DocumentSource
from ragship.ingest.remote import RemoteSource
from ragship.ingest.sources import Source, open_sources
from ragship.settings import Settings, is_remote
from ragship.types import Failure


@dataclass
class DeadLetter:
    path: Path

    def entries(self) -> dict[str, dict]:
        return read_json(self.path, default={})

    def record(self, scanned: Sequence[Source | RemoteSource], failures: list[Failure]) -> None:
        """Replace the entries of scanned sources by this run's failures (a retry only touches its files)."""
        entries = self.entries()
        roots = {s.root for s in scanned if s.complete}
        retried = {p for s in scanned if not s.complete and s.only is not None for p in s.only}  # a retry's files
        failed_now = {_absolute(f.path) for f in failures}
        for key, entry in list(entries.items()):
            if (entry["root"] in roots or key in retried) and key not in failed_now:
                del entries[key]
        root_of = _root_lookup(scanned)
        stamp = now()
        for f in failures:
            key = _absolute(f.path)
            old = entries.get(key, {})
            entries[key] = {"reason": f.reason, "doc_id": f.doc_id, "root": root_of(f.path),
                               "first_failed": old.get("first_failed", stamp), "last_failed": stamp,
                               "attempts": old.get("attempts", 0) + 1}
        atomic_write_json(self.path, entries)

    def retry_sources(self, settings: Settings) -> list[Source | RemoteSource]:
        """Sources that re-read only the failed files (a failed corpus row re-reads its whole corpus file)."""
        by_root: dict[str, set[str]] = {}
        for key, entry in self.entries().items():
            by_root.setdefault(entry["root"], set()).add(_split_line(key)[0])
        if not by_root:
            return []
        return [replace(source, only=frozenset(paths) if Path(root).is_dir() else None)
                for (root, paths), source in zip(sorted(by_root.items()),
                                                 open_sources(sorted(by_root), settings))]


def _split_line(path: str) -> tuple[str, str]:
    """("/abs/corpus.jsonl", ":12") for a corpus row, ("/abs/file.pdf", "") for a file; a URL as it is."""
    if is_remote(path):
        return path, ""
    name = Path(path).name
    if ":" in name and name.rsplit(":", 1)[1].isdigit():
        path, line = path.rsplit(":", 1)
        return str(Path(path).resolve()), f":{line}"
    return str(Path(path).resolve()), ""


def _absolute(path: str) -> str:
    return "".join(_split_line(path))


def _root_lookup(sources: Sequence[DocumentSource]):
    roots = sorted((s.root for s in sources), key=len, reverse=True)

    def root_of(failure_path: str) -> str:
        file_path = _split_line(failure_path)[0]
        return next((r for r in roots if file_path == r or file_path.startswith(r.rstrip("/") + "/")), file_path)

    return root_of

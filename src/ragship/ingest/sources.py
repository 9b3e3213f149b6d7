"""Sources: turn the paths a user names into a stream of Documents (or Failures), never loading a whole
corpus into memory. A folder is walked recursively; a .jsonl/.jsonl.gz file is read as a BEIR corpus."""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from ragship.errors import InputError
from ragship.ingest.document import content_hash, make_document, too_big, wanted
from ragship.ingest.parsers import readable
from ragship.ingest.remote import RemoteSource, remote_source
from ragship.settings import Settings, is_remote
from ragship.types import Document, Failure, Partial


def is_beir_corpus(path: Path) -> bool:
    return path.name.endswith((".jsonl", ".jsonl.gz"))


@dataclass(frozen=True)
class Source:
    """One path the user named. `root` is stored on every document it yields, so documents that disappear
    from it can be found and removed."""

    path: Path
    max_bytes: int
    include: tuple[str, ...] = ()  # globs on the path relative to the folder (or the file name); empty = all
    exclude: tuple[str, ...] = ()
    only: frozenset[str] | None = None  # absolute paths to read, for retrying failures; None = everything
    settings: Settings | None = None  # for [[sources]] entries: per-path metadata (and, in the pipeline, chunking)
    groups: tuple[str, ...] = ()  # who may read its documents (ingest --groups, else [[sources]] groups)
    ocr: bool = False  # read scanned PDFs and images by OCR (ingest --ocr, else [[sources]] ocr)

    @property
    def root(self) -> str:
        return str(self.path.resolve())

    def exists(self) -> bool:
        return self.path.exists()

    @property
    def complete(self) -> bool:
        """A complete scan may propagate deletions; a retry of a few files may not."""
        return self.only is None

    def wanted(self, relative: str) -> bool:
        return wanted(relative, self.include, self.exclude)

    def estimate(self) -> int:
        """How many items `documents()` will yield, counted cheaply (files, or corpus lines), for progress."""
        if not self.path.exists():
            return 0
        if is_beir_corpus(self.path):
            return _count_lines(self.path)
        if not self.path.is_dir():
            return 1
        total = 0
        for dirpath, dirnames, filenames in os.walk(self.path, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            base = Path(dirpath)
            for name in filenames:
                relative = (base / name).relative_to(self.path).as_posix()
                if name.startswith(".") or not self.wanted(relative):
                    continue
                if is_beir_corpus(base / name):
                    total += _count_lines(base / name)
                elif readable(Path(name), self.ocr):
                    total += 1
        return total

    def documents(self) -> Iterator[Document | Failure | Partial]:
        if not self.path.exists():
            yield Failure(str(self.path), "path not found; check the spelling or mount")
        elif self.path.is_dir():
            yield from self._folder()
        elif is_beir_corpus(self.path):
            yield from read_beir_corpus(self.path, self.root, self._metadata(self.path), self._groups(self.path))
        else:
            yield self._file(self.path, self.path.name)

    def _folder(self) -> Iterator[Document | Failure | Partial]:
        base = self.path.resolve()
        unread: list[OSError] = []  # what os.walk could not list
        for dirpath, dirnames, filenames in os.walk(base, onerror=unread.append, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                relative = path.relative_to(base).as_posix()
                if name.startswith(".") or path.is_symlink() or not self.wanted(relative):
                    continue
                if self.only is not None and str(path) not in self.only:
                    continue
                if is_beir_corpus(path):
                    yield from read_beir_corpus(path, self.root, self._metadata(path), self._groups(path))
                elif readable(path, self.ocr):
                    yield self._file(path, f"{base.name}/{relative}")
        for e in unread:  # a folder that could not be listed: what was under it is kept, not deleted
            yield Partial(self.root, f"cannot list {e.filename}: {e.strerror or e}; the documents under it are "
                                     "kept (check its permissions)")

    def _metadata(self, path: Path) -> dict[str, Any]:
        conf = self.settings.source_settings(path) if self.settings else None
        return dict(conf.metadata) if conf else {}

    def _groups(self, path: Path) -> tuple[str, ...]:
        if self.groups:
            return self.groups
        conf = self.settings.source_settings(path) if self.settings else None
        return tuple(sorted(set(conf.groups))) if conf else ()

    def _file(self, path: Path, doc_id: str) -> Document | Failure:
        try:
            if not path.is_file():
                return Failure(str(path), "not a regular file (a pipe, socket or device); remove it", doc_id)
            size = path.stat().st_size
            if size > self.max_bytes:
                return Failure(str(path), too_big(size, self.max_bytes), doc_id)
            data = path.read_bytes()
        except OSError as e:
            return Failure(str(path), f"cannot read: {e.strerror or e}; check permissions", doc_id)
        return make_document(data, path.name, doc_id=doc_id, root=self.root, where=str(path), ocr=self.ocr,
                             metadata={**self._metadata(path), "path": str(path.resolve())}, groups=self._groups(path))


def _count_lines(path: Path) -> int:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except (OSError, EOFError):
        return 1


def read_beir_corpus(path: Path, root: str, extra: dict | None = None,
                     groups: tuple[str, ...] = ()) -> Iterator[Document | Failure]:
    """BEIR corpus rows: {"_id", "title", "text", ...}. A bad row is a Failure naming its line; the rest go on."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield _beir_row(line, f"{path}:{lineno}", root, extra or {}, groups)
    except (OSError, EOFError, UnicodeDecodeError) as e:
        yield Failure(str(path), f"cannot read corpus ({type(e).__name__}: {e}); check the file is UTF-8 JSONL")


def _beir_row(line: str, where: str, root: str, extra: dict, groups: tuple[str, ...]) -> Document | Failure:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        return Failure(where, f"invalid JSON ({e.msg}); each line must be one JSON object")
    if not isinstance(row, dict) or not isinstance(row.get("_id"), (str, int)):
        return Failure(where, 'missing "_id"; a BEIR corpus row needs "_id", "title" and "text"')
    text, title = row.get("text") or "", row.get("title") or ""
    if not isinstance(text, str) or not isinstance(title, str):
        return Failure(where, '"title" and "text" must be strings')
    if not (text.strip() or title.strip()):
        return Failure(where, f'document {row["_id"]!r} has empty "title" and "text"')
    metadata = {**extra, **(row["metadata"] if isinstance(row.get("metadata"), dict) else {})}
    return Document(
        doc_id=str(row["_id"]),
        text=text or title,
        title=title,
        source=root,
        content_hash=content_hash(title, text, metadata, groups),
        metadata=metadata,
        groups=groups,
    )


def open_sources(paths: Sequence[str | Path], settings: Settings, include=(), exclude=(), groups=(),
                 ocr: bool = False) -> list[Source | RemoteSource]:
    """Sources for the paths (or s3://, git+, http(s):// locations), each with its [[sources]] settings
    (command-line globs win over configured ones)."""
    if not paths:
        raise InputError("no paths given; name files or folders to ingest, e.g. `ragship ingest docs/`")
    max_bytes = settings.ingest.max_file_bytes
    sources: list[Source | RemoteSource] = []
    for p in paths:
        conf = settings.source_settings(p if is_remote(p) else Path(p))
        options: dict[str, Any] = dict(include=tuple(include) or tuple(conf.include if conf else ()),
                                       exclude=tuple(exclude) or tuple(conf.exclude if conf else ()),
                                       groups=tuple(sorted(set(groups))), ocr=ocr or bool(conf and conf.ocr))
        # a folder looks up each file's [[sources]] groups; a remote source (a str location) has one entry
        if isinstance(p, str) and is_remote(p):
            options["groups"] = options["groups"] or tuple(sorted(set(conf.groups if conf else ())))
            sources.append(remote_source(p, conf, max_bytes=max_bytes, cache=settings.home / "sources", **options))
        else:
            sources.append(Source(Path(p), max_bytes, settings=settings, **options))
    return sources

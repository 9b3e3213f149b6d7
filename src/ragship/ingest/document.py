"""What every source shares: a Document from a file's bytes, wherever they came from (a folder, an S3 object, a
Git blob, a web page), the include/exclude globs, and the size limit's message."""

from __future__ import annotations

import fnmatch
import hashlib
import json
from pathlib import PurePosixPath
from typing import Any, Iterator, Protocol, runtime_checkable

from ragship.errors import RagshipError
from ragship.ingest.parsers import parse_file
from ragship.types import Document, Failure, Partial


@runtime_checkable
class DocumentSource(Protocol):
    """Where documents come from: a folder, file or BEIR corpus (sources.Source), an S3 prefix, a Git repository
    or a website (remote.py). The conformance suite is tests/ingest/test_source_conformance.py."""

    @property
    def root(self) -> str:
        """Stored on every document it yields; documents of this root missing from a complete scan are deleted."""

    @property
    def complete(self) -> bool:
        """Whether a scan sees everything (so deletions may propagate), not a retry of a few files."""

    def exists(self) -> bool:
        """False when the source is plainly gone (a missing folder): nothing of it is deleted."""

    def estimate(self) -> int:
        """How many documents a scan will yield, cheaply (0: unknown), for progress."""

    def documents(self) -> Iterator[Document | Failure | Partial]:
        """Every document, or a Failure (with the document id when one can be tied to it, which keeps its last
        version; without one, deletions from this source are held back), and a Partial when the listing was cut
        short (a page limit, a folder it could not enter): deletions are held back then too."""


def content_hash(title: str, text: str, metadata: dict, groups: tuple[str, ...] = ()) -> str:
    """Changes whenever anything stored with the document changes (its permissions too)."""
    payload = json.dumps([title, text, metadata, sorted(groups)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def wanted(relative: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Whether a file passes the globs, matched against its path inside the source and its name."""
    name = relative.rsplit("/", 1)[-1]

    def match(globs: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatch(relative, g) or fnmatch.fnmatch(name, g) for g in globs)

    return (not include or match(include)) and not match(exclude)


def too_big(size: int, max_bytes: int) -> str:
    return (f"{size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit (ingest.max_file_mb); split the file "
            "or raise the limit")


def make_document(data: bytes, name: str, *, doc_id: str, root: str, where: str, metadata: dict[str, Any],
                  groups: tuple[str, ...] = (), ocr: bool = False) -> Document | Failure:
    """Parse `data` by the suffix of `name`; `where` (a path or URL) names it in a Failure. The parser's metadata
    (pages, language, ...) joins `metadata`, with the format."""
    path = PurePosixPath(name)
    try:
        parsed = parse_file(data, path, ocr=ocr)
    except RagshipError as e:
        return Failure(where, str(e).removeprefix(f"{path}: "), doc_id)
    metadata = {**metadata, **parsed.metadata, "format": path.suffix.lower().lstrip(".")}
    return Document(doc_id=doc_id, text=parsed.text, title=parsed.title, source=root,
                    content_hash=content_hash(parsed.title, parsed.text, metadata, groups), metadata=metadata,
                    groups=groups, headings=parsed.headings)

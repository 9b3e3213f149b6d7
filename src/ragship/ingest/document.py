"""A Document from a file's bytes, wherever they came from (a folder, an S3 object, a Git blob, a web page)."""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Any

from ragship.errors import RagshipError
from ragship.ingest.parsers import parse_file
from ragship.types import Document, Failure


def content_hash(title: str, text: str, metadata: dict, groups: tuple[str, ...] = ()) -> str:
    """Changes whenever anything stored with the document changes (its permissions too)."""
    payload = json.dumps([title, text, metadata, sorted(groups)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def make_document(data: bytes, name: str, *, doc_id: str, root: str, where: str, metadata: dict[str, Any],
                  groups: tuple[str, ...] = (), ocr: bool = False) -> Document | Failure:
    """Parse `data` by the suffix of `name`; `where` (a path or URL) names it in a Failure. The parser's metadata
    (pages, language, ...) joins `metadata`, with the format."""
    path = PurePosixPath(name)
    try:
        parsed = parse_file(data, path, ocr=ocr)  # type: ignore[arg-type] - parsers only read name and suffix
    except RagshipError as e:
        return Failure(where, str(e).removeprefix(f"{path}: "), doc_id)
    metadata = {**metadata, **parsed.metadata, "format": path.suffix.lower().lstrip(".")}
    return Document(doc_id=doc_id, text=parsed.text, title=parsed.title, source=root,
                    content_hash=content_hash(parsed.title, parsed.text, metadata, groups), metadata=metadata,
                    groups=groups, headings=parsed.headings)

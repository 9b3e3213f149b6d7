"""Uploaded files: stored in HOME/uploads under a safe name, ingested as documents "uploads/NAME" (an admin's) or
"uploads/KEY/NAME" (another key's: each key writes only its own namespace, so no upload replaces a document its
key may not read), removed with their document. Size and type are checked while the bytes arrive, before anything
is kept."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from ragship.errors import TooLarge, UnsupportedFile
from ragship.ingest.parsers import PARSERS

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")  # one path part, never "." or ".."


class Uploads:
    def __init__(self, folder: Path, max_bytes: int):
        self.folder, self.max_bytes = folder, max_bytes
        self.prefix = f"{folder.name}/"

    def doc_id(self, path: Path) -> str:
        """The document id of a stored upload: "uploads/" and its path below the uploads folder."""
        return self.prefix + path.relative_to(self.folder).as_posix()

    def target(self, filename: str | None, namespace: str = "") -> Path:
        """Where an upload named `filename` is stored in `namespace` (a key id; "" for an admin's)."""
        return self.folder / namespace / self.safe_name(filename)

    def path_of(self, doc_id: str) -> Path | None:
        """The stored file of an uploaded document ("uploads/NAME" or "uploads/KEY/NAME"), else None."""
        parts = doc_id[len(self.prefix):].split("/")
        ok = doc_id.startswith(self.prefix) and 1 <= len(parts) <= 2 and all(_NAMESPACE.match(p) for p in parts)
        return self.folder.joinpath(*parts) if ok else None

    def remove(self, doc_ids: list[str]) -> None:
        for doc_id in doc_ids:
            path = self.path_of(doc_id)
            if path is not None:
                path.unlink(missing_ok=True)

    @staticmethod
    def safe_name(filename: str | None) -> str:
        """The file's own name with anything but letters, digits, `._-` replaced; UnsupportedFile for a type no
        parser reads."""
        name = _UNSAFE.sub("-", (filename or "").rsplit("/", 1)[-1]).strip(".-")[:120]
        suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if not name or suffix not in PARSERS:
            raise UnsupportedFile(f"{filename!r}: only {', '.join(sorted(PARSERS))} files can be uploaded")
        return name

    @contextmanager
    def receiving(self, final: Path) -> Iterator[_Part]:
        """A part file to write an upload's bytes to (`final` from `target`); on success it replaces any file of
        that name, on any error (TooLarge included) it is removed."""
        final.parent.mkdir(parents=True, exist_ok=True)
        part = _Part(final.with_name(f".{final.name}.part"), final, self.max_bytes)
        try:
            with part.path.open("wb") as part.file:
                yield part
            part.path.replace(part.final)
        finally:
            part.path.unlink(missing_ok=True)


class _Part:
    def __init__(self, path: Path, final: Path, limit: int):
        self.path, self.final, self.limit, self.size = path, final, limit, 0
        self.file: BinaryIO | None = None  # open while Uploads.receiving holds the part

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLarge(f"{self.final.name}: over the {self.limit / 1e6:.0f} MB upload limit (ingest.max_file_mb)")
        assert self.file is not None  # opened by Uploads.receiving, which hands the part out
        self.file.write(chunk)

"""Export and import of one index version as a self-contained, checksummed archive (a tar file):

    manifest.json     format, the version's record (model, settings, counts, corpus hash), the files' sha256
    MANIFEST.sha256   the manifest's own sha256 (a flipped byte anywhere is found)
    chunks.parquet    every row of the version, vectors included
    calibration.json  the answer calibration fitted on it, if any
    model/...         the embedding model's files when `adapt` trained it (a packaged model is named only)

Import verifies every checksum before anything is written, then makes the rows a new version of the home
(full-text and vector indexes rebuilt with the version's own parameters): live in an empty home, else a
candidate that `ragship promote` gates."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator, Protocol

import pyarrow.parquet as pq

from ragship.answer.calibrate import CalibrationStore
from ragship.errors import ArchiveError, storage_error
from ragship.fsio import atomic_write_json
from ragship.home import Home
from ragship.index import ChunkStore, IndexVersion, VersionRegistry
from ragship.ingest.build import IngestReport
from ragship.ingest.pipeline import DEFAULT_FTS, commit
from ragship.settings import Settings
from ragship.state import State
from ragship.util.clock import now

FORMAT = 1  # what this ragship writes and the newest it reads


class Archivable(Protocol):
    settings: Settings
    home: Home
    registry: VersionRegistry
    calibrations: CalibrationStore

    @property
    def state(self) -> State: ...

    def store(self) -> ChunkStore: ...


def export(c: Archivable, version_id: str | None, dest: Path) -> dict[str, Any]:
    """Write the version (default: the live one) to `dest` (a regular file in an existing folder, or "-" for
    standard output); returns the manifest."""
    checked_destination(dest)
    version = c.registry.get(version_id) if version_id else c.registry.live()
    if version is None:
        raise ArchiveError("nothing to export: no live version; ingest first or name a version")
    with _scratch(c.home) as staging:
        view = c.store().view(version.id)
        pq.write_table(view.rows(view.schema_names()), staging / "chunks.parquet")
        calibration = c.calibrations.path(version.id)
        if calibration.exists():
            shutil.copy(calibration, staging / "calibration.json")
        model = Path(version.params.get("embed_model", ""))
        if model.is_dir() and c.home.models in model.resolve().parents:  # trained here: ship it
            shutil.copytree(model, staging / "model")
        manifest = {"format": FORMAT, "exported_at": now(), "version": asdict(version),
                    "settings": c.settings.model_dump(mode="json", exclude={"home", "cache_dir", "sources", "state",
                                                                                 "index"}),
                    "files": {str(p.relative_to(staging)): _sha256(p) for p in sorted(staging.rglob("*"))
                              if p.is_file()}}
        atomic_write_json(staging / "manifest.json", manifest)
        (staging / "MANIFEST.sha256").write_text(_sha256(staging / "manifest.json") + "\n")
        _pack(staging, dest)
    return manifest


def checked_destination(dest: Path) -> None:
    """ArchiveError unless `dest` is "-" or a regular file (new, or to replace) in a folder that exists."""
    if str(dest) == "-":
        return
    if dest.exists() and not dest.is_file():
        kind = "a folder" if dest.is_dir() else "not a regular file (a device, pipe or socket)"
        raise ArchiveError(f"{dest} is {kind}; name a new archive file, e.g. {dest.name or 'export'}.tar")
    if not dest.parent.is_dir():
        raise ArchiveError(f"{dest.parent} is not an existing folder; create it first or export elsewhere")


def _pack(staging: Path, dest: Path) -> None:
    """The staged files as a tar at `dest` (via a part file renamed at the end: no half archive under its name,
    and no part file left on any failure), or on standard output for "-"."""
    to_stdout = str(dest) == "-"
    part = staging.parent / f".{staging.name}.tar.part" if to_stdout else dest.with_name(f".{dest.name}.part")
    try:
        with tarfile.open(part, "w") as tar:
            for p in sorted(staging.rglob("*")):
                tar.add(p, arcname=str(p.relative_to(staging)), recursive=False)
        if to_stdout:
            with part.open("rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            part.replace(dest)
    except OSError as e:
        if storage_error(e):
            raise
        raise ArchiveError(f"cannot write {dest}: {e.strerror or e}; export to a file in a writable folder") \
            from None
    finally:
        part.unlink(missing_ok=True)


def import_archive(c: Archivable, archive: Path) -> IngestReport:
    """Verify `archive`, then add its version to this home (see the module docstring)."""
    with _scratch(c.home) as staging:
        manifest = _unpacked(archive, staging)
        version = IndexVersion(**manifest["version"])
        params = dict(version.params)
        if (staging / "model").is_dir():
            model_dir = c.home.models / Path(params["embed_model"]).name
            if not model_dir.exists():
                shutil.copytree(staging / "model", model_dir)
            params["embed_model"] = str(model_dir)
        rows = pq.read_table(staging / "chunks.parquet")
        dim = rows.schema.field("vector").type.list_size
        store, live = c.store(), c.registry.live()
        report = IngestReport(previous=live.id if live else None)
        with c.home.exclusive():
            c.registry.begin_build(report.previous, kind="import")
            store.replace_all(rows, dim)
            store.build_fts(**params.get("fts", DEFAULT_FTS))
            store.build_vector_index(c.settings.search.ann_min_rows)
            version_id = commit(report, params, version.model_id, store, c.registry, promote=False)
            c.registry.end_build()
        c.registry.update_release(version_id, imported={"from": str(archive), "version": version.id, "at": now()})
        if (staging / "calibration.json").exists():
            shutil.copy(staging / "calibration.json", c.calibrations.path(version_id))
        return report


def _unpacked(archive: Path, staging: Path) -> dict[str, Any]:
    """The archive's files in `staging`, every checksum verified; its manifest."""
    try:
        with tarfile.open(archive, "r") as tar:
            unpacked, free = sum(m.size for m in tar.getmembers()), shutil.disk_usage(staging).free
            if unpacked > free:
                raise ArchiveError(f"{archive}: unpacks to {unpacked / 1e6:.0f} MB but {free / 1e6:.0f} MB are free "
                                   f"where it is unpacked ({staging.parent}); free space and import it again")
            tar.extractall(staging, filter="data")  # no absolute paths, links or `..` out of staging
    except (tarfile.TarError, OSError) as e:
        why = "not a tar archive" if isinstance(e, tarfile.ReadError) else \
            (str(e).splitlines() or [type(e).__name__])[0]  # an error without a message has none to split
        raise ArchiveError(f"{archive}: not a readable ragship export ({why}); export it again") from None
    manifest_path = staging / "manifest.json"
    expected = (staging / "MANIFEST.sha256").read_text().strip() if (staging / "MANIFEST.sha256").exists() else ""
    if not manifest_path.exists() or _sha256(manifest_path) != expected:
        raise ArchiveError(f"{archive}: manifest.json is missing or does not match MANIFEST.sha256 (corrupted); "
                           "export it again")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format", 0) > FORMAT:
        raise ArchiveError(f"{archive}: archive format {manifest['format']} was written by a newer ragship (this one "
                           f"reads up to {FORMAT}); upgrade ragship (`pip install -U ragship`) to import it")
    for name, digest in manifest["files"].items():
        path = staging / name
        if not path.is_file() or _sha256(path) != digest:
            raise ArchiveError(f"{archive}: {name} does not match its checksum (corrupted or missing); export it "
                               "again")
    return manifest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _scratch(home: Home) -> Iterator[Path]:
    """Where an archive is packed or unpacked: a folder inside the home (same disk), removed afterwards, and the
    home itself too when the work made it and failed (an import of a bad archive leaves no empty home)."""
    made = not home.root.exists()
    folder = home.root / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            yield Path(tmp)
    except BaseException:
        if made:
            shutil.rmtree(home.root, ignore_errors=True)
        raise
    finally:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

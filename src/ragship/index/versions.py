"""Index versions: every successful build is an immutable, tagged LanceDB version with a record of how it was
built (its manifest: parent, model, settings, corpus hash, ingest report, and its release history). A pointer
file names the live one; readers follow it, writers move it atomically. A version never made live is a
candidate; one refused by the release gate is refused; one that was live and is no more is retired."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from filelock import FileLock

from ragship.errors import REPAIR, Conflict, IndexNotReady, RagshipError, HomeFileDamaged
from ragship.fsio import atomic_write_json, corrupt, read_json
from ragship.util.clock import now


@dataclass(frozen=True)
class IndexVersion:
    id: str  # "v1", "v2", ... and the LanceDB tag of the same name
    number: int
    lance_version: int
    created_at: str
    model_id: str
    params: dict[str, Any]
    counts: dict[str, int]  # documents, chunks
    ingest: dict[str, Any] = field(default_factory=dict)  # the build's summary: plan, timings, failures
    parent: str | None = None  # the live version it was built on
    corpus_sha256: str = ""  # of every (doc id, content hash): equal hashes, equal corpora
    # release history: "promotions" [{at, by, forced, from}], "gate" (the last gate's summary), "refused"
    release: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # what its Lance version reads: {file: "size:blake2b"}

    def status(self, live_id: str | None) -> str:
        if self.id == live_id:
            return "live"
        if self.release.get("deleted"):
            return "deleted"
        if self.release.get("damaged"):
            return "damaged"
        if self.release.get("refused"):
            return "refused"
        return "retired" if self.release.get("promotions") else "candidate"


ANY = object()  # set_live without a compare-and-swap


class VersionRegistry:
    def __init__(self, index_dir: Path):
        self.versions_path = index_dir / "versions.json"
        self.backup_path = index_dir / "versions.backup.json"  # a second copy: `doctor --repair` restores it
        self.live_path = index_dir / "LIVE"
        self.build_path = index_dir / "BUILD"
        self._records = FileLock(index_dir / "versions.lock")  # versions.json read-modify-writes, across processes

    def all(self) -> list[IndexVersion]:
        records = read_json(self.versions_path, default=[])
        try:
            return [IndexVersion(**v) for v in records]
        except TypeError as e:  # not a list of records, or a record with missing or unknown fields
            raise corrupt(self.versions_path, e) from None

    def find(self, version_id: str) -> IndexVersion | None:
        return next((v for v in self.all() if v.id == version_id), None)

    def get(self, version_id: str) -> IndexVersion:
        """A version the index itself refers to (its absence is corruption; user-named ids use `find`)."""
        found = self.find(version_id)
        if found is None:
            raise HomeFileDamaged(f"index version {version_id!r} is not recorded in {self.versions_path}; {REPAIR}")
        return found

    def live(self) -> IndexVersion | None:
        pointer = self.pointer()
        return self.get(pointer["id"]) if pointer else None

    def pointer(self) -> dict[str, Any]:
        """The live pointer: {"id", "since", "previous"} ({} before the first version). HomeFileDamaged when it is
        unreadable, or missing while versions that were made live are recorded."""
        pointer = read_json(self.live_path)
        if pointer is None:
            if any(v.release.get("promotions") for v in self.all()):
                raise corrupt(self.live_path, "the file is missing but versions were made live")
            return {}
        if not isinstance(pointer, dict) or not isinstance(pointer.get("id"), str):
            raise corrupt(self.live_path, "no version id in it")
        return pointer

    def serving(self, version_id: str | None = None) -> IndexVersion:
        """The live version (or `version_id`); IndexNotReady before the first build."""
        version = self.get(version_id) if version_id else self.live()
        if version is None:
            raise IndexNotReady(f"no index in {self.live_path.parent.parent}; run `ragship ingest PATH` first")
        return version

    def built_with(self, model: str) -> str | None:
        """The model id of the live version when `model` built it, else None (an unreadable pointer too: doctor
        and serving report it where it matters)."""
        try:
            live = self.live()
        except RagshipError:
            return None
        return live.model_id if live and live.params.get("embed_model", model) == model else None

    def follows(self, model: str) -> str:
        """The model an ingest configured with `model` embeds with: the one the improvement loop trained from it
        when that built the live version (so a sync extends the live version instead of undoing it), else `model`."""
        try:
            live = self.live()
        except RagshipError:
            return model
        learned = live.params.get("embed_model") if live else None
        if live and learned and live.params.get("adapted_from") == model and Path(learned).is_dir():
            return learned
        return model

    def status(self) -> dict[str, Any]:
        live = self.live()
        return {"live_version": live.id if live else None, "documents": live.counts["documents"] if live else 0,
                "chunks": live.counts["chunks"] if live else 0, "built_at": live.created_at if live else None,
                "model": live.model_id if live else None, "versions": [v.id for v in self.all()]}

    def next_id(self) -> tuple[str, int]:
        n = max((v.number for v in self.all()), default=0) + 1
        return f"v{n}", n

    def record(self, version: IndexVersion) -> None:
        self.versions_path.parent.mkdir(parents=True, exist_ok=True)
        with self._records:
            self._write([*self.all(), version])

    def update_release(self, version_id: str, **changes: Any) -> IndexVersion:
        """Set keys of a version's release history (the rest of its record is immutable)."""
        return self._edit(version_id, lambda v, _: {**v.release, **changes})

    def add_promotion(self, version_id: str, **entry: Any) -> IndexVersion:
        """Record that a version was made live: {at, by, forced, from, ...} and `seq`, a counter over every
        promotion of the home, so "most recently live" never depends on the clock."""

        def promoted(v: IndexVersion, versions: list[IndexVersion]) -> dict[str, Any]:
            seq = 1 + max((p.get("seq", 0) for w in versions for p in w.release.get("promotions", [])), default=0)
            return {**v.release, "promotions": [*v.release.get("promotions", []), {**entry, "seq": seq}]}

        return self._edit(version_id, promoted)

    def _edit(self, version_id: str, release) -> IndexVersion:
        """Replace one version's release history with `release(version, all versions)`, under the records lock."""
        with self._records:
            versions = self.all()
            index = next((i for i, v in enumerate(versions) if v.id == version_id), None)
            if index is None:
                raise HomeFileDamaged(f"index version {version_id!r} is not recorded in {self.versions_path}; {REPAIR}")
            versions[index] = replace(versions[index], release=release(versions[index], versions))
            self._write(versions)
            return versions[index]

    def replace_record(self, version: IndexVersion) -> None:
        """Rewrite a version's record (`doctor --repair` only: a rebuilt index, recorded checksums)."""
        with self._records:
            self._write([version if v.id == version.id else v for v in self.all()])

    def restore(self, versions: list[IndexVersion]) -> None:
        """Write the records anew (`doctor --repair`: from the backup copy, or rebuilt from the tags)."""
        with self._records:
            self._write(versions)

    def backup(self) -> list[IndexVersion] | None:
        """The backup copy of the records, if it is readable."""
        try:
            return [IndexVersion(**v) for v in read_json(self.backup_path, default=None) or []] or None
        except (HomeFileDamaged, TypeError):
            return None

    def _write(self, versions: list[IndexVersion]) -> None:
        records = [asdict(v) for v in versions]
        atomic_write_json(self.versions_path, records)
        atomic_write_json(self.backup_path, records)

    def set_live(self, version_id: str, expected: str | None | object = ANY) -> None:
        """Point readers at a recorded version, atomically; the pointer remembers the one it replaced. With
        `expected` (a version id, or None for no live version), a compare-and-swap: Conflict, and nothing
        changed, if the live version is no longer that one (another promotion or rollback got there first)."""
        with self._records:
            self.get(version_id)  # must exist
            try:
                previous = self.pointer().get("id")
            except HomeFileDamaged:  # an unreadable pointer being replaced (`doctor --repair`)
                previous = None
            if expected is not ANY and previous != expected:
                raise Conflict(f"the live version changed to {previous} meanwhile (expected {expected}); nothing "
                               "was switched: check `ragship versions` and run it again")
            atomic_write_json(self.live_path, {"id": version_id, "since": now(),
                                               "previous": previous if previous != version_id else None})

    # -- the build journal: which live version the uncommitted head was built on --------------------------------
    def build_base(self) -> tuple[bool, str | None]:
        """(an ingest is in progress, the live version id it started from). Only an ingest's head can be
        resumed: an interrupted import reads as none in progress, so the next writer resets the head."""
        journal = read_json(self.build_path)
        if journal is None or journal.get("kind", "ingest") != "ingest":
            return False, None
        return True, journal.get("base")

    def begin_build(self, base: str | None, kind: str = "ingest") -> None:
        atomic_write_json(self.build_path, {"base": base, "kind": kind, "started": now()})

    def end_build(self) -> None:
        self.build_path.unlink(missing_ok=True)



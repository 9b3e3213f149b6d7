"""Index versions: every successful build is an immutable, tagged LanceDB version with a record of how it was
built. A pointer file names the live one; readers follow it, writers move it atomically."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragship.errors import ConfigError, IndexCorrupt, IndexNotReady
from ragship.fsio import atomic_write_json, read_json
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


class VersionRegistry:
    def __init__(self, index_dir: Path):
        self.versions_path = index_dir / "versions.json"
        self.live_path = index_dir / "LIVE"
        self.build_path = index_dir / "BUILD"

    def all(self) -> list[IndexVersion]:
        return [IndexVersion(**v) for v in read_json(self.versions_path, default=[])]

    def get(self, version_id: str) -> IndexVersion:
        for v in self.all():
            if v.id == version_id:
                return v
        raise IndexCorrupt(f"index version {version_id!r} is not recorded in {self.versions_path}")

    def live(self) -> IndexVersion | None:
        pointer = read_json(self.live_path)
        return self.get(pointer["id"]) if pointer else None

    def checked_live(self, model_id: str) -> IndexVersion:
        """The live version, which must exist and have been embedded by `model_id` (the configured model)."""
        live = self.live()
        if live is None:
            raise IndexNotReady(f"no index in {self.live_path.parent.parent}; run `ragship ingest PATH` first")
        if live.model_id != model_id:
            raise ConfigError(f"live index {live.id} was built with {live.model_id} but embed.model resolves to "
                              f"{model_id}; re-ingest, or set embed.model (and embed.precision) back")
        return live

    def status(self) -> dict[str, Any]:
        live = self.live()
        return {"live_version": live.id if live else None, "documents": live.counts["documents"] if live else 0,
                "chunks": live.counts["chunks"] if live else 0, "built_at": live.created_at if live else None,
                "model": live.model_id if live else None, "versions": [v.id for v in self.all()]}

    def next_id(self) -> tuple[str, int]:
        n = max((v.number for v in self.all()), default=0) + 1
        return f"v{n}", n

    def record(self, version: IndexVersion) -> None:
        atomic_write_json(self.versions_path, [asdict(v) for v in self.all()] + [asdict(version)])

    def set_live(self, version_id: str) -> None:
        self.get(version_id)  # must exist
        atomic_write_json(self.live_path, {"id": version_id, "since": now()})

    def live_stamp(self) -> float:
        """Changes whenever the live pointer moves; servers poll it to follow promotions."""
        try:
            return self.live_path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    # -- the build journal: which live version the uncommitted head was built on --------------------------------
    def build_base(self) -> tuple[bool, str | None]:
        """(a build is in progress, the live version id it started from)."""
        journal = read_json(self.build_path)
        return (journal is not None, journal.get("base") if journal else None)

    def begin_build(self, base: str | None) -> None:
        atomic_write_json(self.build_path, {"base": base, "started": now()})

    def end_build(self) -> None:
        self.build_path.unlink(missing_ok=True)



"""Ingest runs on one home, as the user and the service start them: one writer at a time (the home's lock), each
real run recorded for `status` (last_ingest.json) and reported to `on_report` (metrics), the failures of paths
the user named kept in the dead-letter file for --retry-failed; uploads and deletions too."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from ragship.embed.cache import CachedEmbedder
from ragship.errors import DeletionsHeld, EmptyCorpus, InputError
from ragship.home import Home
from ragship.index import ChunkStore, VersionRegistry
from ragship.index.tombstones import Tombstones
from ragship.ingest.build import IngestReport, Observer
from ragship.ingest.dead_letter import DeadLetter
from ragship.ingest.pipeline import ingest, remove
from ragship.ingest.remote import RemoteSource
from ragship.ingest.sources import Source, open_sources
from ragship.ingest.uploads import Uploads
from ragship.settings import Settings

UPLOAD_WAIT_S = 600.0  # an upload job waits this long for a writer ahead of it (a CLI ingest) before failing


class Ingestor:
    def __init__(self, home: Home, settings: Settings, embedder: Callable[[], CachedEmbedder],
                 registry: VersionRegistry, tombstones: Tombstones,
                 on_report: Callable[[IngestReport], None] = lambda report: None):
        self.home, self.settings, self._embedder, self.registry = home, settings, embedder, registry
        self.tombstones, self.on_report = tombstones, on_report
        self.dead_letter = DeadLetter(home.dead_letter)
        self.uploads = Uploads(home.uploads, settings.ingest.max_file_bytes)

    def store(self) -> ChunkStore:
        return ChunkStore(self.home.lance)

    def run(self, paths: list[Path], observe: Observer | None = None, *, dry_run: bool = False,
            retry_failed: bool = False, include: tuple[str, ...] = (), exclude: tuple[str, ...] = (),
            executor: str = "local", ray_address: str | None = None, groups: tuple[str, ...] = (),
            ocr: bool = False) -> IngestReport:
        """Ingest paths (or, with retry_failed, the dead-letter entries) and record what failed."""
        if executor not in ("local", "ray"):
            raise InputError(f"--executor must be local or ray; got {executor!r}")
        if retry_failed:
            sources = self.dead_letter.retry_sources(self.settings)
            if not sources:
                raise InputError("no failed inputs to retry; `ragship status` lists failures")
        else:
            sources = open_sources(paths, self.settings, include, exclude, groups, ocr)
        return self._run(paths, sources, observe, dead_letter=True, dry_run=dry_run, use_ray=executor == "ray",
                         ray_address=ray_address)

    def upload(self, paths: list[Path], groups: tuple[str, ...] = (), observe: Observer | None = None) -> IngestReport:
        """Ingest files stored in the uploads folder (Uploads.doc_id names their documents) with the given
        readers, as one version."""
        source = Source(self.uploads.folder, self.settings.ingest.max_file_bytes, settings=self.settings,
                        only=frozenset(str(p.resolve()) for p in paths), groups=tuple(sorted(set(groups))))
        self.tombstones.clear([self.uploads.doc_id(p) for p in paths])
        if observe:
            observe("waiting for another ingest", 0)
        # the job reports its failures; it waits its turn behind another writer (a CLI ingest) instead of failing
        return self._run([], [source], observe, dead_letter=False, wait_s=UPLOAD_WAIT_S)

    def delete(self, doc_ids: list[str]) -> IngestReport:
        """Hidden from every version at once, then a new live version without them; uploaded files removed."""
        self.tombstones.add(doc_ids)
        self.uploads.remove(doc_ids)
        with self.home.exclusive():
            return remove(doc_ids, settings=self.settings, embedder=self._embedder(), store=self.store(),
                          registry=self.registry)

    def _run(self, paths: list[Path], sources: Sequence[Source | RemoteSource], observe: Observer | None,
             dead_letter: bool, wait_s: float = 0, **options) -> IngestReport:
        with self.home.exclusive(wait_s):
            embedder = self._embedder()
            embedder.embedded = 0
            report = ingest(paths, settings=self.settings, embedder=embedder, store=self.store(),
                            registry=self.registry, observe=observe, sources=sources, **options)
            if not options.get("dry_run"):
                self._hide_removed(report)
                self.on_report(report)
                if dead_letter:
                    self.dead_letter.record(sources, report.failures)
                self.home.record_ingest(report.to_dict())
            return report

    def _hide_removed(self, report: IngestReport) -> None:
        """A document removed at its source stops being served now, whatever the promotion policy: while the
        version without it is a candidate, it is hidden from every version (unless the run removed so many that
        the gate decides: release.hold_deletions_over); one that came back is shown again."""
        back = self.tombstones.ids() & report.present
        if back:
            self.tombstones.clear(sorted(back))
        if report.candidate and report.plan["deleted"] and not report.deletions_held:
            self.tombstones.add(report.plan["deleted"])

    def status(self) -> dict[str, Any]:
        """The last run's counts and the inputs that still fail."""
        last = self.home.last_ingest()
        return {"last_ingest": {k: last.get(k) for k in ("added", "changed", "deleted", "unchanged", "failed")}
                if last else None,
                "failures": [{"path": path, **entry} for path, entry in self.dead_letter.entries().items()]}


def empty_corpus(report: IngestReport, named: str) -> EmptyCorpus | None:
    """The error when a run that wrote something ingested nothing at all from what it was given (`named`), else
    None; the CLI and upload jobs both apply it."""
    if report.dry_run or report.ingested:
        return None
    why = f"{len(report.failures)} failed" if report.failures else "no supported files found"
    return EmptyCorpus(f"nothing could be ingested from {named}: {why}")


def deletions_held(report: IngestReport, shown: int = 5) -> DeletionsHeld | None:
    """The error when a run's version is held back because it removes too many of the live documents
    (release.hold_deletions_over, under every auto_promote policy), else None; the CLI and syncs both raise it."""
    if not (report.deletions_held and report.candidate):
        return None
    gone = report.plan["deleted"]
    named = ", ".join(gone[:shown]) + (f" and {len(gone) - shown} more" if len(gone) > shown else "")
    live = report.documents + report.deleted - report.added
    return DeletionsHeld(
        f"{report.version} is held as a candidate: it removes {report.deleted} of the {live} live documents, more "
        f"than release.hold_deletions_over allows at once ({named}); {report.previous} keeps serving them. If they "
        f"were meant to go: `ragship promote {report.version} --force` (or without --force, to run the gate first); "
        "if not, restore them and ingest again")

"""One ingest run's plan and its batches: which documents are new, changed or unchanged against the live version
(and against the table head a crashed run left), and the batch being chunked, embedded and written. The local
pipeline (pipeline.py) and the Ray job (ray_executor.py) share it."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

from ragship.embed.base import Embedder
from ragship.errors import StorageError
from ragship.index.store import ChunkStore, metadata_tags
from ragship.ingest.chunking import chunk_document
from ragship.settings import ChunkSettings, Settings
from ragship.types import Document, Failure, Partial

Observer = Callable[..., None]  # observe(stage, items_done, total=None): drives progress displays
PLAN_LIST_LIMIT = 1000  # document ids listed per plan category in a report


@dataclass
class IngestReport:
    version: str | None = None  # live version after the run
    previous: str | None = None
    new_version: bool = False
    added: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0
    resumed: bool = False  # continued the head of an interrupted build
    reindexed: bool = False  # only the full-text settings changed: a new version with the index rebuilt
    candidate: bool = False  # the new version was not made live (release.auto_promote): it awaits the gate
    deletions_held: bool = False  # it removes more than release.hold_deletions_over of the live documents
    present: set[str] = field(default_factory=set)  # the document ids its sources hold now (not reported)
    already_written: int = 0  # documents that interrupted build had already written
    dry_run: bool = False
    ray_nodes: int = 0  # --executor ray: the cluster nodes whose actors chunked and embedded
    plan: dict[str, list[str]] = field(default_factory=lambda: {"added": [], "changed": [], "deleted": []})
    documents: int = 0  # totals in the live version
    chunks: int = 0
    failures: list[Failure] = field(default_factory=list)
    partial: list[dict[str, str]] = field(default_factory=list)  # sources read in part: their deletions held back
    timings_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def ingested(self) -> int:
        """Documents that are in the index as they are now on disk."""
        return self.added + self.changed + self.unchanged

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in {"failures", "timings_s", "plan", "present"}}
        d["plan"] = {k: v[:PLAN_LIST_LIMIT] for k, v in self.plan.items()}
        d["failed"] = len(self.failures)
        d["failures"] = [f.__dict__ for f in self.failures]
        d["timings_s"] = {k: round(v, 3) for k, v in self.timings_s.items()}
        return d


def doc_version_hash(doc: Document, params: dict[str, Any]) -> str:
    """A document must be rebuilt when its content or the settings that shape its chunks/vectors change. The
    model counts by its id (its weights), not by where it lies: a home imported elsewhere stays unchanged."""
    shaping = {k: v for k, v in params.items() if k not in ("embed_model", "hashed_with", "adapted_from")}
    return hashlib.sha256(f"{doc.content_hash}:{json.dumps(shaping, sort_keys=True)}".encode()).hexdigest()


class Stopwatch:
    def __init__(self, totals: dict[str, float]):
        self.totals = totals

    @contextmanager
    def stage(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] += time.perf_counter() - t


class Build:
    """One ingest run: the plan against the live version, and the batch being chunked, embedded and written."""

    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkStore, observe: Observer,
                 dry_run: bool):
        self.settings, self.embedder, self.store, self.observe = settings, embedder, store, observe
        self.params = {**settings.index_params(), "model_id": embedder.model_id}
        self.report = IngestReport(dry_run=dry_run)
        self.clock = Stopwatch(self.report.timings_s)
        self.hashed_with: str | None = None  # the model id the live version's document hashes name (adopt)
        self.live_docs: dict[str, tuple[str, str]] = {}  # what readers see: the report is relative to this
        self.head_docs: dict[str, tuple[str, str]] = {}  # what the table holds now: work is relative to this
        self.seen: set[str] = set()
        self.batch: list[tuple[Document, str, ChunkSettings]] = []

    def take(self, item: Document | Failure | Partial) -> bool:
        """Plan one document (or record a failure). False when deletions from its source must be held back."""
        report = self.report
        if isinstance(item, Partial):  # the source saw only part of itself: it deletes nothing this run
            report.partial.append({"source": item.source, "reason": item.reason})
            return False
        self.observe("scan", 1)
        if isinstance(item, Failure):
            report.failures.append(item)
            # A file that fails now keeps its last good version; a failure we cannot tie to a document (a
            # missing path, an unreadable corpus row) stops deletions from that source this run.
            self.seen.add(item.doc_id)
            return bool(item.doc_id)
        if item.doc_id in self.seen:
            report.failures.append(Failure(item.metadata.get("path", item.source),
                                           f"duplicate document id {item.doc_id!r}; the first one was kept"))
            return True
        self.seen.add(item.doc_id)
        chunking = self.chunking(item)
        h = doc_version_hash(item, {**self.params, "chunk": chunking.model_dump()})
        same = {h} | ({doc_version_hash(item, {**self.params, "model_id": self.hashed_with,
                                               "chunk": chunking.model_dump()})} if self.hashed_with else set())
        live = self.live_docs.get(item.doc_id)
        if live and live[0] in same:
            report.unchanged += 1
        else:
            kind = "changed" if live else "added"
            setattr(report, kind, getattr(report, kind) + 1)
            report.plan[kind].append(item.doc_id)
        head = self.head_docs.get(item.doc_id)
        if head and head[0] in same:
            report.already_written += report.resumed and not (live and live[0] in same)
            return True
        if not self.report.dry_run:
            self.batch.append((item, h, chunking))
            if len(self.batch) >= self.settings.ingest.write_batch:
                self.flush()
        return True

    def adopt(self, live) -> None:
        """A live version re-embedded by this model (pipeline.reembed) kept its documents' hashes, computed with
        the model named in its `hashed_with`: those documents are unchanged for this model too."""
        if live is not None and live.params.get("hashed_with") and live.model_id == self.embedder.model_id:
            self.hashed_with = self.params["hashed_with"] = live.params["hashed_with"]
            self.params["adapted_from"] = live.params.get("adapted_from")
            # the learned model built it, not embed.model: serving loads what the version names (a new version
            # naming embed.model with the learned model's id refused every search, issue 48's trial)
            self.params["embed_model"] = live.params.get("embed_model", self.params["embed_model"])

    def chunking(self, doc: Document) -> ChunkSettings:
        """The chunk settings of the most specific [[sources]] entry holding the document, else the default."""
        conf = self.settings.source_settings(doc.metadata.get("path") or doc.source)
        return conf.chunk if conf and conf.chunk else self.settings.chunk

    def finish(self) -> None:
        """Called once every document has been taken and flushed (the Ray build runs its job here)."""

    def write(self, doc_ids: list[str], rows: list[dict[str, Any]]) -> None:
        """One commit: the documents' old rows out, their new rows in (a checkpoint a resumed run trusts)."""
        with self.clock.stage("write"):
            self._check_floor()
            self.store.delete_docs([d for d in doc_ids if d in self.head_docs])
            self.store.add(rows, self.embedder.dim)
        self.report.chunks_written += len(rows)

    def _check_floor(self) -> None:
        """Stop before the disk holding the index falls below ingest.min_free_mb (its head is rolled back by the
        next run; the live version is untouched)."""
        path = self.store.path
        if path is None:
            return  # an object store (store.remote) has no local disk to fill
        floor = self.settings.ingest.min_free_mb * 1e6
        free = shutil.disk_usage(path if path.exists() else path.parent).free
        if free < floor:
            raise StorageError(f"{free / 1e6:.0f} MB free on the disk holding {path}, below "
                               f"ingest.min_free_mb = {self.settings.ingest.min_free_mb:g}: the ingest stopped and "
                               "the live index version is untouched; free space (or lower the floor) and run it again")

    def flush(self) -> None:
        """Chunk, embed and write the pending batch (replacing older rows of the same documents)."""
        if not self.batch:
            return
        with self.clock.stage("chunk"):
            rows = [row for doc, h, chunking in self.batch for row in document_rows(doc, h, chunking, self.embedder)]
        with self.clock.stage("embed"):
            self._embed(rows)
        self.write([doc.doc_id for doc, _, _ in self.batch], rows)
        self.batch = []

    def _embed(self, rows: list[dict[str, Any]]) -> None:
        before: int | None = getattr(self.embedder, "embedded", None)  # a CachedEmbedder counts what it embeds
        step = self.settings.embed.batch_size * 8  # progress granularity; the model batches internally
        # longest first across the whole batch, so each model batch holds similar lengths: SciFact's chunks were
        # padded 10.7 % beyond their real tokens in sorted parts of 128, 5.2 % sorted as a whole (ADR 0019)
        rows = sorted(rows, key=lambda r: -len(r["index_text"]))
        for i in range(0, len(rows), step):
            part = rows[i:i + step]
            for row, vector in zip(part, self.embedder.embed_batch([r["index_text"] for r in part])):
                row["vector"] = vector
            self.observe("embed", len(part))
        # a cached embedder counts real embeddings; a bare one embeds every row
        self.report.chunks_embedded += len(rows) if before is None else getattr(self.embedder, "embedded") - before


def document_rows(doc: Document, doc_hash: str, chunk: ChunkSettings, tokenizer) -> list[dict[str, Any]]:
    """The index rows (without vectors) of one document: its chunks and what citations need."""
    metadata, tags = json.dumps(doc.metadata, ensure_ascii=False), metadata_tags(doc.metadata)
    return [{
        "chunk_id": c.chunk_id, "doc_id": doc.doc_id, "doc_hash": doc_hash, "source": doc.source,
        "title": doc.title, "text": c.text, "index_text": c.index_text(doc.title), "start": c.start,
        "end": c.end, "heading_path": list(c.heading_path), "metadata": metadata, "groups": list(doc.groups),
        "tags": tags,
    } for c in chunk_document(doc, tokenizer, chunk.tokens, chunk.overlap, chunk.strategy)]

"""The ingest pipeline: plan against the live version, then parse → chunk → embed → write in bounded batches,
index for BM25, and commit the result as a new immutable index version that becomes live.

Resumable: every batch is an atomic LanceDB commit in which each document is either whole in its old form,
absent, or whole in its new form. A killed run leaves the table head at its last batch; the next run (with the
same live version underneath, per the BUILD journal) plans its work against that head, so documents already
written are not redone, and classifies the result against the live version, so the report is the net change.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TypeVar

import numpy as np
import pyarrow as pa

from ragship.embed.base import Embedder
from ragship.errors import IndexNotReady
from ragship.index.store import ChunkStore, schema
from ragship.index.view import FTS_COLUMN
from ragship.index.versions import IndexVersion, VersionRegistry
from ragship.ingest.build import Build, IngestReport, Observer, Stopwatch
from ragship.ingest.document import DocumentSource
from ragship.ingest.sources import open_sources
from ragship.settings import Settings
from ragship.util import actor
from ragship.util.clock import now

T = TypeVar("T")

DEFAULT_FTS = {"stem": True, "stop_words": True}  # what versions recorded without "fts" params were built with


def ingest(paths: Sequence[str | Path], *, settings: Settings, embedder: Embedder, store: ChunkStore,
           registry: VersionRegistry, observe: Observer | None = None, dry_run: bool = False,
           sources: Sequence[DocumentSource] | None = None, ray_address: str | None = None,
           use_ray: bool = False) -> IngestReport:
    """Ingest `paths` (or prepared `sources`). With dry_run, parse and plan but write nothing. With use_ray,
    chunking and embedding run as a Ray Data job (ingest/ray_executor.py); planning and commits stay here."""
    sources = sources if sources is not None else open_sources(paths, settings)
    live = registry.live()
    if live is not None and live.release.get("damaged"):  # `doctor` found its data damaged: rebuild from sources
        live = None
    observe = observe or (lambda stage, n, total=None: None)
    build: Build
    if use_ray and not dry_run:
        from ragship.embed.cache import CachedEmbedder
        from ragship.ingest.ray_executor import RayBuild

        if not isinstance(embedder, CachedEmbedder):  # the engine's is: its workers share the cache's folder
            raise TypeError(f"the Ray executor needs a CachedEmbedder, not {type(embedder).__name__}")
        build = RayBuild(settings, embedder, store, observe, dry_run, ray_address)
    else:
        build = Build(settings, embedder, store, observe, dry_run)
    report = build.report
    _start(build, store, registry, live, dry_run)
    complete_roots = _scan(build, sources, settings.ingest.write_batch)
    gone_live = [d for d, (_, root) in build.live_docs.items() if root in complete_roots and d not in build.seen]
    gone_head = [d for d, (_, root) in build.head_docs.items() if root in complete_roots and d not in build.seen]
    report.deleted, report.plan["deleted"] = len(gone_live), gone_live
    report.present = {d for d in build.seen if d}
    if dry_run:
        return report
    fts = settings.search.fts_params()
    documents_changed = bool(report.added or report.changed or report.deleted or report.resumed)
    report.reindexed = live is not None and not documents_changed and live.params.get("fts", DEFAULT_FTS) != fts
    if not (documents_changed or report.reindexed):
        registry.end_build()
        if live:
            report.documents, report.chunks = live.counts["documents"], live.counts["chunks"]
        return report
    with build.clock.stage("write"):
        store.delete_docs(gone_head)
    with build.clock.stage("index"):
        store.build_fts(**fts)
        if documents_changed:
            store.build_vector_index(settings.search.ann_min_rows)
    # removed documents go now (ADR 0012), unless so many go at once that it looks like an accident: then the
    # version waits as a candidate under every auto_promote policy, for a person. One file removed from a folder
    # of three is a share over the line, not an accident: a single document is never held.
    report.deletions_held = report.deleted > max(1.0, settings.release.hold_deletions_over * len(build.live_docs))
    deletions_only = bool(report.deleted) and not (report.added or report.changed or report.resumed)
    commit(report, {**build.params, "fts": fts}, embedder.model_id, store, registry,
           promote=(settings.release.auto_promote == "always" or deletions_only) and not report.deletions_held)
    registry.end_build()
    return report


def _start(build: Build, store: ChunkStore, registry: VersionRegistry, live: IndexVersion | None,
           dry_run: bool) -> None:
    """Plan against the live version; continue the head an interrupted build left on it, else reset the head."""
    report = build.report
    report.previous = report.version = live.id if live else None
    live_lance = live.lance_version if live else None
    build.adopt(live)
    with build.clock.stage("plan"):
        build.live_docs = build.head_docs = store.doc_states(live_lance)
        in_progress, base = registry.build_base()
        head = store.head_version()
        if in_progress and base == report.previous and head != live_lance:
            build.head_docs, report.resumed = store.doc_states(head), True
        elif not dry_run:
            store.reset_head(live_lance)
            registry.begin_build(report.previous)


def _scan(build: Build, sources: Sequence[DocumentSource], write_batch: int) -> set[str]:
    """Take every document of every source into the build; the roots scanned completely (whose missing
    documents may be deleted)."""
    build.observe("scan", 0, total=sum(s.estimate() for s in sources))
    complete_roots: set[str] = set()
    for source in sources:
        source_ok = source.exists()
        # parsing runs one batch ahead in a thread, overlapping chunking and embedding (torch and the tokenizer
        # release the GIL); "parse" then times only the waits for it
        for item in _timed(prefetched(source.documents(), write_batch), build.clock, "parse"):
            source_ok &= build.take(item)
        if source_ok and source.complete:
            complete_roots.add(source.root)
    build.flush()
    build.finish()
    return complete_roots


def remove(doc_ids: list[str], *, settings: Settings, embedder: Embedder, store: ChunkStore,
           registry: VersionRegistry) -> IngestReport:
    """A new live version without the given documents (those present in the live one)."""
    live = registry.live()
    if live is None:  # nothing is live: nothing to remove
        return IngestReport()
    report = IngestReport(previous=live.id, version=live.id)
    present = store.doc_states(live.lance_version)
    gone = [d for d in doc_ids if d in present]
    if not gone:
        return report
    store.reset_head(live.lance_version)
    registry.begin_build(live.id)
    store.delete_docs(gone)
    store.build_fts(**live.params.get("fts", DEFAULT_FTS))
    store.build_vector_index(settings.search.ann_min_rows)
    report.deleted, report.plan["deleted"] = len(gone), gone
    commit(report, live.params, embedder.model_id, store, registry)
    registry.end_build()
    return report


def reembed(*, settings: Settings, embedder: Embedder, store: ChunkStore, registry: VersionRegistry,
            adapted_from: str, observe: Observer | None = None) -> IngestReport:
    """A candidate version holding the live version's chunks as they are, embedded by `embedder` (another model):
    nothing is read from the sources again, so uploaded documents keep their readers and a remote source need not
    be reachable. The documents keep their hashes, and the version names the model those were computed with
    (`hashed_with`), so the next ingest with the new model finds them unchanged; `adapted_from` is the configured
    model the new one was trained from (VersionRegistry.follows)."""
    live = registry.live()
    if live is None:
        raise IndexNotReady("nothing is live to re-embed; run `ragship ingest PATH` first")
    observe = observe or (lambda stage, n, total=None: None)
    rows = store.view(live.id).rows([n for n in schema(embedder.dim).names if n != "vector"])
    texts = rows[FTS_COLUMN].to_pylist()
    observe("embed", 0, total=len(texts))
    step = settings.embed.batch_size * 8
    parts = []
    for i in range(0, len(texts), step):
        parts.append(np.asarray(embedder.embed_batch(texts[i:i + step]), dtype=np.float32))
        observe("embed", len(parts[-1]))
    vectors = np.vstack(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)
    store.reset_head(live.lance_version)
    registry.begin_build(live.id)
    store.replace_all(rows.append_column("vector", pa.FixedSizeListArray.from_arrays(
        pa.array(vectors.reshape(-1)), embedder.dim)), embedder.dim)
    store.build_fts(**live.params.get("fts", DEFAULT_FTS))
    store.build_vector_index(settings.search.ann_min_rows)
    report = IngestReport(previous=live.id, version=live.id, unchanged=live.counts["documents"],
                          chunks_embedded=len(texts), chunks_written=len(texts))
    params = {**live.params, "embed_model": settings.embed.model, "model_id": embedder.model_id,
              "adapted_from": adapted_from,
              "hashed_with": live.params.get("hashed_with") or live.params.get("model_id") or live.model_id}
    commit(report, params, embedder.model_id, store, registry, promote=False)
    registry.end_build()
    return report


def prefetched(items: Iterable[T], size: int) -> Iterator[T]:
    """`items` in order, produced by a background thread at most `size` ahead (bounded memory). An exception
    in the producer is raised here, where the consumer would have met it; closing this generator stops it."""
    q: queue.Queue = queue.Queue(maxsize=max(1, size))
    done, stop = object(), threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it on its own thread
            q.put((done, e))

    worker = threading.Thread(target=produce, name="ragship-parse", daemon=True)
    worker.start()
    try:
        while True:
            item, error = q.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()


def _timed(items: Iterator, clock: Stopwatch, stage: str) -> Iterator:
    while True:
        with clock.stage(stage):
            item = next(items, None)
        if item is None:
            return
        yield item


def commit(report: IngestReport, params, model_id: str, store: ChunkStore, registry: VersionRegistry,
           promote: bool = True) -> str:
    """Tag the head as a new version and record its manifest; it goes live if `promote` (or nothing is live),
    else it stays a candidate and `report.version` names it (`report.previous` stays the live one). Returns its id."""
    version_id, number = registry.next_id()
    lance_version = store.commit_tag(version_id)
    view = store.view(version_id)
    report.documents, report.chunks = view.count_docs(), view.count_chunks()
    live = registry.live()
    report.version, report.new_version = version_id, True
    registry.record(IndexVersion(
        id=version_id, number=number, lance_version=lance_version, created_at=now(), model_id=model_id,
        params=params, counts={"documents": report.documents, "chunks": report.chunks}, ingest=report.to_dict(),
        parent=live.id if live else None, corpus_sha256=corpus_hash(store.doc_states(lance_version)),
        files=store.checksums(version_id, live.files if live else {}),
    ))
    if live is not None and live.release.get("search") and live.model_id == model_id:
        registry.update_release(version_id, search=live.release["search"])  # weights tuned for this model stay
    if promote or live is None:
        registry.set_live(version_id)
        by = actor.automatic("ingest", "auto-promote" if live else "first version")
        registry.add_promotion(version_id, at=now(), by=by, forced=False, **{"from": live.id if live else None})
    else:
        report.candidate = True
    return version_id


def corpus_hash(docs: dict[str, tuple[str, str]]) -> str:
    """sha256 of the sorted (doc id, content hash) pairs of a version: equal for the same corpus."""
    return hashlib.sha256(json.dumps(sorted((d, h) for d, (h, _) in docs.items())).encode()).hexdigest()

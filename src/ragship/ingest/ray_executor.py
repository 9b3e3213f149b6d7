"""`ragship ingest --executor ray`: chunking and embedding as a Ray Data job.

The driver parses and plans exactly as the local engine (same `Build.take`), spills the documents that need
work to a local JSONL file (bounded driver memory), then hands them to Ray's object store in slices and runs one
Ray Data pipeline over them: `from_arrow_refs` → `map_batches` with an actor pool whose actors each hold the
embedder (loaded once per actor) and chunk + embed whole documents, on whichever nodes of the cluster have room.
Nothing is read from the driver's disk by the workers, so the cluster can span machines (`--ray-address`).
Results stream back to the driver, which commits whole documents per write batch to LanceDB. Writes stay in the
driver: Ray 2.60's `write_lance` failed with pylance 14 (ADR 0005), and one writer keeps the commit order the
resume logic relies on.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ragship.embed.cache import CachedEmbedder
from ragship.errors import ConfigError
from ragship.home import Home
from ragship.index.store import ChunkStore
from ragship.ingest.build import Build, Observer, document_rows
from ragship.settings import ChunkSettings, EmbedSettings, Settings
from ragship.types import Document

ROW_COLUMNS = ("chunk_id", "doc_id", "doc_hash", "source", "title", "text", "index_text", "start", "end",
               "metadata")
LIST_COLUMNS = ("heading_path", "groups", "tags")  # sent through Ray as JSON strings


class ChunkEmbed:
    """A Ray Data actor: holds one embedder; turns a batch of documents into index rows with vectors."""

    def __init__(self, embed: dict, cache_dir: str):
        from ragship.embed.factory import make_embedder

        self.embedder = make_embedder(EmbedSettings(**embed), Path(cache_dir))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        for doc_json, doc_hash, chunk_json in zip(batch["doc"], batch["doc_hash"], batch["chunk"]):
            d = json.loads(doc_json)
            doc = Document(**{**d, "headings": tuple(tuple(h) for h in d["headings"]), "groups": tuple(d["groups"])})
            doc_rows = document_rows(doc, doc_hash, ChunkSettings(**json.loads(chunk_json)), self.embedder)
            for r in doc_rows:
                r["n_chunks"] = len(doc_rows)
            rows.extend(doc_rows)
        before = self.embedder.embedded
        vectors = self.embedder.embed_batch([r["index_text"] for r in rows])
        out: dict[str, Any] = {c: [r[c] for r in rows] for c in ROW_COLUMNS}
        out |= {c: [json.dumps(r[c]) for r in rows] for c in LIST_COLUMNS}
        out["n_chunks"] = np.array([r["n_chunks"] for r in rows], dtype=np.int64)
        out["vector"] = vectors
        out["embedded"] = np.array([self.embedder.embedded - before] + [0] * (len(rows) - 1), dtype=np.int64)
        out["node"] = np.array([_node_id()] * len(rows))
        out["model_id"] = np.array([self.embedder.model_id] * len(rows))
        return out


class RayBuild(Build):
    def __init__(self, settings: Settings, embedder: CachedEmbedder, store: ChunkStore, observe: Observer,
                 dry_run: bool, ray_address: str | None):
        super().__init__(settings, embedder, store, observe, dry_run)
        self.embedder: CachedEmbedder = embedder  # the workers read its cache's folder
        self.ray_address = ray_address
        self.spill_path = Home(settings.home).ray_spill
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        self.spill = self.spill_path.open("w", encoding="utf-8")
        self.spilled = 0

    def flush(self) -> None:
        """Spill the pending documents for the Ray job (no chunking or embedding in the driver)."""
        for doc, doc_hash, chunking in self.batch:
            self.spill.write(json.dumps({"doc": json.dumps(asdict(doc), ensure_ascii=False), "doc_hash": doc_hash,
                                         "chunk": json.dumps(chunking.model_dump())}) + "\n")
            self.spilled += 1
        self.batch = []

    def finish(self) -> None:
        self.spill.close()
        try:
            if self.spilled:
                # commits happen inside the job's stream and are timed as "write": keep them out of "embed"
                writes_before, t = self.clock.totals["write"], time.perf_counter()
                self._run()
                self.clock.totals["embed"] += (time.perf_counter() - t) - (self.clock.totals["write"] - writes_before)
        finally:
            self.spill_path.unlink(missing_ok=True)

    def _run(self) -> None:
        ray = _import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=self.ray_address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, ignore_reinit_error=True)
        try:
            ray.data.DataContext.get_current().enable_progress_bars = False
            # at least two slices per CPU, so that every actor of the cluster gets work even from a small job
            per_slice = max(1, min(500, math.ceil(self.spilled / (2 * _cpus(ray)))))
            dataset = ray.data.from_arrow_refs(list(self._slices(ray, per_slice))).map_batches(
                ChunkEmbed, fn_constructor_kwargs={"embed": self._embed_settings().model_dump(),
                                                   "cache_dir": str(self.embedder.cache.path.parent)},
                compute=_actor_pool(ray), batch_size=min(self.settings.embed.batch_size * 4, per_slice),
                batch_format="numpy")
            self._collect(dataset.iter_batches(batch_size=None, batch_format="numpy"))
        finally:
            if started_here:
                ray.shutdown()

    def _embed_settings(self) -> EmbedSettings:
        """The driver's encoder path, named in the settings: workers never measure one of their own."""
        from ragship.embed.factory import settings_for

        encoder = getattr(self.embedder, "encoder", None)
        return settings_for(encoder["path"], self.settings.embed) if encoder else self.settings.embed

    def _slices(self, ray, docs: int):
        """The spilled documents as object references of `docs` rows each (the driver holds one slice at a time)."""
        import pyarrow as pa

        with self.spill_path.open(encoding="utf-8") as spill:
            while lines := [line for _, line in zip(range(docs), spill)]:
                yield ray.put(pa.Table.from_pylist([json.loads(line) for line in lines]))

    def _check_model(self, worker_ids: set[str]) -> None:
        """Vectors of another model or encoder path never enter this version."""
        foreign = worker_ids - {self.embedder.model_id}
        if foreign:
            raise ConfigError(f"Ray workers embedded with {', '.join(sorted(foreign))} but this ingest embeds with "
                              f"{self.embedder.model_id}: install the same ragship and model on every node; the live "
                              "version is untouched")

    def _collect(self, batches) -> None:
        """Commit documents once all their chunks have arrived, in write batches."""
        pending: dict[str, list[dict[str, Any]]] = {}
        ready_ids: list[str] = []
        ready_rows: list[dict[str, Any]] = []
        nodes: set[str] = set()
        for batch in batches:
            self._check_model(set(batch["model_id"].tolist()))
            self.report.chunks_embedded += int(batch["embedded"].sum())
            nodes.update(batch["node"].tolist())
            self.report.ray_nodes = len(nodes)
            self.observe("embed", len(batch["chunk_id"]))
            for i in range(len(batch["chunk_id"])):
                row = {c: _plain(batch[c][i]) for c in ROW_COLUMNS}
                row |= {c: json.loads(batch[c][i]) for c in LIST_COLUMNS}
                row["vector"] = np.asarray(batch["vector"][i], dtype=np.float32)
                rows = pending.setdefault(row["doc_id"], [])
                rows.append(row)
                if len(rows) == int(batch["n_chunks"][i]):
                    ready_ids.append(row["doc_id"])
                    ready_rows.extend(sorted(pending.pop(row["doc_id"]), key=lambda r: r["start"]))
            if len(ready_ids) >= self.settings.ingest.write_batch:
                self.write(ready_ids, ready_rows)
                ready_ids, ready_rows = [], []
        if pending:
            raise RuntimeError(f"Ray job returned incomplete documents: {sorted(pending)[:5]}")
        if ready_ids:
            self.write(ready_ids, ready_rows)


def _actor_pool(ray):
    """RAGSHIP_RAY_ACTORS actors if set; else from one up to one per CPU of the cluster (Ray Data scales the
    pool with the work queued), so a cluster's other nodes take part."""
    if os.environ.get("RAGSHIP_RAY_ACTORS"):
        return ray.data.ActorPoolStrategy(size=max(1, int(os.environ["RAGSHIP_RAY_ACTORS"])))
    return ray.data.ActorPoolStrategy(min_size=1, max_size=_cpus(ray))


def _cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError("--executor ray needs Ray Data: `pip install 'ragship[ray]'` (ray[data]==2.60.0)") from None
    return ray

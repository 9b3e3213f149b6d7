"""LanceDB storage for chunks. Writers change the table head; readers only ever open a tagged version, so a
half-written ingest is invisible to them, and the next writer rolls the head back to the live version first."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa

from ragship.errors import DocumentNotFound, IndexNotReady
from ragship.index.integrity import checksums, damaged, disk_use, total_bytes
from ragship.index.memory import FILTERABLE, Memory
from ragship.util.sql import quote

TABLE = "chunks"
OVERFETCH = 4  # filtered BM25: unfiltered candidates looked at per wanted result before prefiltering
FTS_COLUMN = "index_text"
PARTITION_ROWS = 65_536  # rows per IVF partition of the vector index (build_vector_index)
MIN_EF = 100  # HNSW candidates looked at for a short top n (IndexView.dense)


def schema(dim: int) -> pa.Schema:
    return pa.schema([
        ("chunk_id", pa.string()),
        ("doc_id", pa.string()),
        ("doc_hash", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        (FTS_COLUMN, pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("heading_path", pa.list_(pa.string())),
        ("metadata", pa.string()),  # JSON object
        ("groups", pa.list_(pa.string())),  # who may read it: empty = everyone (document-level permissions)
        ("tags", pa.list_(pa.string())),  # "key=value" of each metadata value, for filters
        ("vector", pa.list_(pa.float32(), dim)),
    ])


class ChunkStore:
    """The writable chunks table (its head) and the tags that mark versions, in a local folder or on an object
    store (`index.uri`; Lance commits by conditional PUT, so concurrent writers never lose a commit: ADR 0016)."""

    def __init__(self, location: Path | str):
        import lancedb

        self.location, self.remote = str(location), "://" in str(location)
        self.path = None if self.remote else Path(location)  # local only: the disk's free space
        self.table_uri = f"{self.location.rstrip('/')}/{TABLE}.lance"
        self._db = lancedb.connect(self.location)

    def exists(self) -> bool:
        return TABLE in self._db.list_tables().tables

    def table(self, dim: int | None = None):
        if self.exists():
            return _current(self._db.open_table(TABLE), self.location)
        if dim is None:
            raise FileNotFoundError(f"no chunks table in {self.location}")
        return self._db.create_table(TABLE, schema=schema(dim))

    def head_version(self) -> int | None:
        return self.table().version if self.exists() else None

    def reset_head(self, lance_version: int | None) -> None:
        """Discard writes after the live version (from an ingest that crashed or failed)."""
        if not self.exists():
            return
        table = self.table()
        if lance_version is None:
            if table.count_rows():
                table.delete("true")
        elif table.version != lance_version:
            table.restore(lance_version)

    def doc_states(self, lance_version: int | None) -> dict[str, tuple[str, str]]:
        """{doc_id: (content hash, source)} of every document in a version."""
        if lance_version is None or not self.exists():
            return {}
        table = self.table()
        table.checkout(lance_version)
        cols = table.search().select(["doc_id", "doc_hash", "source"]).limit(None).to_arrow()
        return dict(zip(cols["doc_id"].to_pylist(), zip(cols["doc_hash"].to_pylist(), cols["source"].to_pylist())))

    def delete_docs(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        if not ids:
            return
        table = self.table()
        for i in range(0, len(ids), 1000):
            table.delete(f"doc_id IN ({', '.join(quote(d) for d in ids[i:i + 1000])})")

    def replace_all(self, rows: pa.Table, dim: int, batch: int = 10_000) -> None:
        """The head holds exactly `rows` (an import): every row deleted, these added in batches."""
        table = self.table(dim)
        if table.count_rows():
            table.delete("true")
        for start in range(0, rows.num_rows, batch):
            table.add(rows.slice(start, batch).cast(schema(dim)))

    def add(self, rows: list[dict[str, Any]], dim: int) -> None:
        for r in rows:  # no groups means readable by everyone: an empty list, never null (SQL null matches nothing)
            r["groups"], r["tags"] = r.get("groups") or [], r.get("tags") or []
        if rows:
            self.table(dim).add(pa.Table.from_pylist(rows, schema=schema(dim)))

    def build_fts(self, stem: bool = True, stop_words: bool = True) -> None:
        """LanceDB's native BM25 index on the head; by default with English stemming and stop words, like the
        bm25s reference (ADR 0002). `search.bm25_*` choose (`SearchSettings.fts_params`)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # create_fts_index is marked deprecated but is the documented call
            self.table().create_fts_index(FTS_COLUMN, replace=True, language="English", stem=stem,
                                          remove_stop_words=stop_words, lower_case=True, ascii_folding=True)

    @contextmanager
    def trial_fts(self, lance_version: int, fts: dict[str, bool]) -> Iterator[IndexView]:
        """The head with the full-text index rebuilt with `fts` (see build_fts), uncommitted: scratch space no
        reader sees (readers open tags); reset to `lance_version` afterwards. The caller holds the writer lock."""
        try:
            self.build_fts(**fts)
            yield IndexView(self.table())
        finally:
            self.reset_head(lance_version)

    def build_vector_index(self, min_rows: int) -> bool:
        """An IVF_HNSW_SQ index on the vectors once the table holds `min_rows` rows (below that, exact flat
        search is fast enough and exact). Rebuilt at each changing ingest; returns whether one was built. Large
        partitions (each an HNSW graph, searched in ~log time): few graphs to probe (ADR 0016 §5)."""
        table = self.table()
        rows = table.count_rows()
        if rows < min_rows:
            return False
        table.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ",
                           num_partitions=max(1, rows // PARTITION_ROWS), replace=True)
        return True

    def commit_tag(self, tag: str) -> int:
        """Tag the head as a version and return its LanceDB version number."""
        table = self.table()
        version = table.version
        if tag in table.tags.list():  # left by a run that crashed before recording it: not a real version
            table.tags.delete(tag)
        table.tags.create(tag, version)
        return version

    def tags(self) -> dict[str, int]:
        """{tag: Lance version}."""
        return {name: t["version"] for name, t in self.table().tags.list().items()}

    def lance_versions(self) -> set[int]:
        """The Lance versions whose manifests still exist (a tag can only point at one of these)."""
        return {v["version"] for v in self.table().list_versions()}

    def retag(self, tag: str, lance_version: int) -> None:
        """Point `tag` at `lance_version` (`doctor --repair`: a deleted or moved tag)."""
        table = self.table()
        if tag in table.tags.list():
            table.tags.delete(tag)
        table.tags.create(tag, lance_version)

    def delete_tag(self, tag: str) -> None:
        table = self.table()
        if tag in table.tags.list():
            table.tags.delete(tag)

    def reclaim(self) -> dict[str, int]:
        """Delete the files only untagged versions use (every version stays reachable by its tag); files a
        running write has not committed yet are left alone (Lance's `delete_unverified` is off)."""
        import lance

        if not self.exists():
            return {"bytes_removed": 0, "old_versions": 0}
        stats = lance.dataset(self.table_uri).cleanup_old_versions(
            older_than=timedelta(0), error_if_tagged_old_versions=False)
        return {"bytes_removed": stats.bytes_removed, "old_versions": stats.old_versions}

    def disk_bytes(self) -> int:
        return total_bytes(self.location)

    def disk_use(self, tags: Iterable[str]) -> dict[str, dict[str, int]]:
        """Per tag: the bytes its version reads and the bytes no other of `tags` reads (index/integrity.py)."""
        return disk_use(self.table_uri, tags) if self.exists() else {}

    def checksums(self, tag: str, known: Mapping[str, str]) -> dict[str, str]:
        """{file: "size:blake2b"} of the files the tagged version reads (index/integrity.py)."""
        return checksums(self.table_uri, tag, known)

    def damaged(self, sums: Mapping[str, str], deep: bool = True) -> list[str]:
        return damaged(self.table_uri, sums, deep)  # the files of a version that no longer match its record

    def view(self, tag: str, nprobes: int = 8, refine_factor: int = 1, lance_version: int | None = None) -> IndexView:
        """The tagged version, read-only; by its Lance version (when given) if the tag itself was lost."""
        table = self.table()
        try:
            table.checkout(tag)
        except ValueError:  # "Version v2 no longer exists": the tag is gone (`doctor --repair` recreates it)
            if lance_version is None:
                raise
            table.checkout(lance_version)
        return IndexView(table, nprobes, refine_factor, version_id=tag)


class IndexView:
    """A read-only, checked-out index version: what searches run against.

    Searches return light rows (chunk_id, doc_id, _score); `chunks()` fetches the full rows of the few that are
    shown. The filterable columns are kept in memory (as `Coded` columns) and, while the version has no vector
    index, so are the vectors and the shown columns: exact dense search is then one matrix-vector product
    (4.6 ms at 100k chunks, against 8.6 ms for the ANN index) and fetching the top 10 costs microseconds instead
    of LanceDB's ~5 ms take (ADR 0009). About 2.7 KB of memory per chunk."""

    COLUMNS = ["chunk_id", "doc_id", "title", "text", "source", "start", "end", "heading_path", "metadata"]
    FILTERABLE = FILTERABLE

    def __init__(self, table, nprobes: int = 8, refine_factor: int = 1, version_id: str = ""):
        self._table, self.version_id = table, version_id  # version_id: the tag it shows ("" for the head)
        self.nprobes, self.refine_factor = nprobes, refine_factor  # used only where a vector index exists
        self.ann = any(i.columns == ["vector"] for i in table.list_indices())
        self._memory: Memory | None = None
        self._doc_summaries: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    @property
    def lance_version(self) -> int:
        return self._table.version

    @property
    def memory(self) -> Memory:
        with self._lock:
            if self._memory is None:
                shown = [c for c in self.COLUMNS if c not in self.FILTERABLE and c != "chunk_id"]
                columns = ["chunk_id", *self.FILTERABLE] + ([] if self.ann else ["vector", *shown])
                self._memory = Memory(self.rows(columns, row_ids=True))
            return self._memory

    def schema_names(self) -> list[str]:
        return list(self._table.schema.names)

    def count_chunks(self) -> int:
        return self._table.count_rows()

    def column(self, name: str) -> list:
        """Every row's value of one column, in storage order."""
        return self._table.search().select([name]).limit(None).to_arrow()[name].to_pylist()

    def rows(self, columns: list[str], row_ids: bool = False) -> pa.Table:
        """Some columns of every row, in storage order (and LanceDB's `_rowid` with `row_ids`)."""
        return self._table.search().select(columns).with_row_id(row_ids).limit(None).to_arrow()

    def chunk_ids(self) -> list[tuple[str, str]]:
        """(chunk id, doc id) of every row, duplicates included: for integrity checks."""
        t = self._table.search().select(["chunk_id", "doc_id"]).limit(None).to_arrow()
        return list(zip(t["chunk_id"].to_pylist(), t["doc_id"].to_pylist()))

    def count_docs(self) -> int:
        return len(set(self.column("doc_id")))

    def dense(self, vector: np.ndarray, n: int, where: str | None = None,
              mask: np.ndarray | None = None) -> list[dict[str, Any]]:
        """Top-n rows by cosine similarity, restricted to `mask` (in memory) or `where` (in the ANN query)."""
        if not self.ann:
            return self.memory.dense(np.asarray(vector, dtype=np.float32), n, mask)
        q = self._table.search(vector, vector_column_name="vector").distance_type("cosine") \
            .nprobes(self.nprobes).refine_factor(self.refine_factor)
        q = q.ef(MIN_EF) if n < MIN_EF else q  # HNSW looks at ~n candidates: a top 10 alone had recall 0.82 at 1M
        if where:
            q = q.where(where, prefilter=True)
        t = q.select(["_distance"]).with_row_id(True).limit(n).to_arrow()  # ids from memory, as in _bm25
        return self.memory.rows(self.memory.positions(t["_rowid"].to_numpy()),
                                [1.0 - d for d in t["_distance"].to_pylist()])

    def bm25(self, query: str, n: int, where: str | None = None,
             mask: np.ndarray | None = None) -> list[dict[str, Any]]:
        """Top-n rows by BM25 among those `where` allows. Given `mask` (the same rows, in memory), the unfiltered
        top OVERFETCH × n is filtered first, which is exact (a chunk's BM25 score does not depend on the filter)
        and about twice as fast as LanceDB's prefilter at 100k chunks; the prefiltered query runs only when that
        leaves fewer than n."""
        if where and mask is not None:
            rows = self._bm25(query, OVERFETCH * n, None)
            position = self.memory.position
            kept = [r for r in rows if mask[position[r["chunk_id"]]]]
            if len(kept) >= n or len(rows) < OVERFETCH * n:
                return kept[:n]
        return self._bm25(query, n, where)

    def _bm25(self, query: str, n: int, where: str | None) -> list[dict[str, Any]]:
        """Scores and row ids only: the ids come from memory (selecting them from LanceDB took half the time,
        6.6 vs 3.1 ms p50 at 100k chunks)."""
        from lancedb.query import MatchQuery

        q = self._table.search(MatchQuery(query, FTS_COLUMN), query_type="fts")
        if where:
            q = q.where(where, prefilter=True)
        t = q.select(["_score"]).with_row_id(True).limit(n).to_arrow()
        return self.memory.rows(self.memory.positions(t["_rowid"].to_numpy()), t["_score"].to_pylist())

    def chunks(self, chunk_ids: list[str], columns: list[str] | None = None) -> list[dict[str, Any]]:
        """Full rows of the given chunks, in the given order (unknown ids are skipped)."""
        memory, columns = self.memory, columns or self.COLUMNS
        offsets = [memory.position[c] for c in chunk_ids if c in memory.position]
        if not offsets:
            return []
        if memory.table is not None and set(columns) <= set(memory.table.column_names):
            t = memory.table.select(columns).take(offsets)
        else:
            t = self._table.take_offsets(offsets).select(columns).to_arrow()
        by_id = {r["chunk_id"]: _decode(r) for r in t.to_pylist()}
        return [by_id[c] for c in chunk_ids if c in by_id]

    def documents(self, mask: np.ndarray | None = None) -> list[dict[str, Any]]:
        """One entry per document with a row that `mask` allows: id, title, groups, format, chunk count. The
        per-document fields are read once per view; a call then counts allowed rows per document (numpy)."""
        doc = self.memory.columns["doc_id"]
        counts = np.bincount(doc.codes if mask is None else doc.codes[mask], minlength=len(doc.distinct))
        summaries = self._summaries()
        return sorted(({**summaries[i], "chunks": int(n)} for i, n in enumerate(counts) if n),
                      key=lambda d: d["doc_id"])

    def _summaries(self) -> list[dict[str, Any]]:
        """Per distinct doc_id (in `Coded` order): id, title, groups, format, from its first row."""
        doc = self.memory.columns["doc_id"]  # before the lock, which `memory` takes too
        with self._lock:
            if self._doc_summaries is None:
                first = np.unique(doc.codes, return_index=True)[1] if len(doc.codes) else np.zeros(0, dtype=int)
                t = self.rows(["title", "groups", "metadata"]).take(first).to_pylist()
                self._doc_summaries = [
                    {"doc_id": doc.distinct[code], "title": r["title"], "groups": r["groups"] or [],
                     "format": json.loads(r["metadata"] or "{}").get("format", "")}
                    for code, r in enumerate(t)]
            return self._doc_summaries

    def readable_document(self, doc_id: str, where: str | None = None) -> dict[str, Any]:
        """`document`, or DocumentNotFound: the same error whether it does not exist or `where` hides it."""
        found = self.document(doc_id, where)
        if found is None:
            raise DocumentNotFound("no such document among those you can read")
        return found

    def document(self, doc_id: str, where: str | None = None) -> dict[str, Any] | None:
        """A document's text, rebuilt from its chunks' spans, with its chunks' offsets; None when it has no row
        that `where` allows."""
        condition = f"doc_id = {quote(doc_id)}" + (f" AND ({where})" if where else "")
        rows = [_decode(r) for r in self._table.search().where(condition)
                .select([*self.COLUMNS, "groups"]).limit(None).to_list()]
        if not rows:
            return None
        rows.sort(key=lambda r: r["start"])
        text = ""
        for r in rows:  # chunks overlap and skip only whitespace between them: lay each at its offset
            if r["start"] > len(text):
                text += " " * (r["start"] - len(text))
            text = text[:r["start"]] + r["text"] + text[r["end"]:] if r["end"] > len(text) else text
        first = rows[0]
        return {"doc_id": doc_id, "title": first["title"], "source": first["source"], "groups": first["groups"],
                "metadata": first["metadata"], "text": text,
                "chunks": [{"chunk_id": r["chunk_id"], "start": r["start"], "end": r["end"],
                            "heading_path": list(r["heading_path"])} for r in rows]}

    def vectors(self, chunk_ids: list[str]) -> np.ndarray:
        """The stored vectors of the given chunks, in order."""
        if not self.ann:
            return self.memory.vectors[[self.memory.position[c] for c in chunk_ids]]
        rows = self.chunks(chunk_ids, ["chunk_id", "vector"])
        return np.asarray([r["vector"] for r in rows], dtype=np.float32)


def _current(table, path: str):
    """The table, if it has every column this ragship writes; else a clear error instead of a failed write."""
    missing = {"groups", "tags"} - set(table.schema.names)
    if missing:
        raise IndexNotReady(f"the index in {path} was built by an older ragship (no {', '.join(sorted(missing))} "
                            "column); move that index/ folder aside and ingest again")
    return table


def metadata_tags(metadata: Mapping) -> list[str]:
    """The `key=value` strings a document's metadata can be filtered on (scalars and lists of scalars)."""
    tags = []
    for key, value in metadata.items():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, bool):
                tags.append(f"{key}={str(v).lower()}")
            elif isinstance(v, (str, int, float)):
                tags.append(f"{key}={v}")
    return tags


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row["metadata"] = json.loads(row["metadata"]) if row.get("metadata") else {}
    row["heading_path"] = tuple(row.get("heading_path") or ())
    return row

"""A read-only, checked-out index version (`IndexView`): what every search runs against."""

from __future__ import annotations

import json
import threading
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from ragship.errors import DocumentNotFound
from ragship.index.memory import FILTERABLE, Memory
from ragship.types import public_metadata, public_source
from ragship.util.sql import quote

FTS_COLUMN = "index_text"
OVERFETCH = 4  # filtered BM25: unfiltered candidates looked at per wanted result before prefiltering
Weighted = Sequence[tuple[str, float]]  # texts searched together, each with its weight
MIN_EF = 100  # HNSW candidates looked at for a short top n (IndexView.dense)


class IndexView:
    """A read-only, checked-out index version: what searches run against.

    Searches return light rows (chunk_id, doc_id, _score); `chunks()` fetches the full rows of the few that are
    shown. The filterable columns are kept in memory (as `Coded` columns) and, while the version has no vector
    index, so are the vectors and the shown columns: exact dense search is then one matrix-vector product
    (4.6 ms at 100k chunks, against 8.6 ms for the ANN index) and fetching the top 10 costs microseconds instead
    of a take from disk (ADR 0009). About 2.7 KB of memory per chunk.

    Every read goes through the version's Lance dataset (pylance) rather than LanceDB's query builder: the same
    rows and scores, and at 1M chunks each search 4 ms faster (dense 16 → 14, BM25 13 → 10, take 4.3 → 2.6 ms
    p50; ADR 0016 §5)."""

    COLUMNS = ["chunk_id", "doc_id", "title", "text", "source", "start", "end", "heading_path", "metadata"]
    FILTERABLE = FILTERABLE

    def __init__(self, table, nprobes: int = 8, refine_factor: int = 1, version_id: str = ""):
        self._table, self.version_id = table, version_id  # version_id: the tag it shows ("" for the head)
        self.nprobes, self.refine_factor = nprobes, refine_factor  # used only where a vector index exists
        self.ann = any(i.columns == ["vector"] for i in table.list_indices())
        self._dataset = table.to_lance()  # the same version as Lance sees it: searches and takes go through it
        self._memory: Memory | None = None
        self._doc_summaries: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Load the in-memory columns and every index of this version into Lance's cache now, rather than one
        partition at a time by the first queries (at 1M chunks: 1.1 s; a fresh server's hybrid p95 over its first
        300 queries 51.6 → 40.5 ms, ADR 0016 §5)."""
        self.memory
        for index in self._dataset.describe_indices():
            self._dataset.prewarm_index(index.name)

    def resident_bytes(self) -> int:
        """Bytes of this version held in memory: its indexes in Lance's cache and the columns kept here (what
        `warm` loads ahead of the first queries)."""
        held = self._memory.nbytes() if self._memory is not None else 0
        return self._dataset.session().index_cache_size_bytes() + held

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
        return self._dataset.count_rows()

    def column(self, name: str) -> list:
        """Every row's value of one column, in storage order."""
        return self._dataset.to_table(columns=[name])[name].to_pylist()

    def rows(self, columns: list[str], row_ids: bool = False) -> pa.Table:
        """Some columns of every row, in storage order (and Lance's `_rowid` with `row_ids`)."""
        return self._dataset.to_table(columns=columns, with_row_id=row_ids)

    def chunk_ids(self) -> list[tuple[str, str]]:
        """(chunk id, doc id) of every row, duplicates included: for integrity checks."""
        t = self._dataset.to_table(columns=["chunk_id", "doc_id"])
        return list(zip(t["chunk_id"].to_pylist(), t["doc_id"].to_pylist()))

    def holds(self, doc_id: str, where: str | None = None) -> bool:
        """Whether a row of `doc_id` exists that `where` allows."""
        return self._dataset.count_rows(f"doc_id = {quote(doc_id)}" + (f" AND ({where})" if where else "")) > 0

    def count_docs(self) -> int:
        return len(set(self.column("doc_id")))

    def dense(self, vector: np.ndarray, n: int, where: str | None = None,
              mask: np.ndarray | None = None) -> list[dict[str, Any]]:
        """Top-n rows by cosine similarity, restricted to `mask` (in memory) or `where` (in the ANN query)."""
        if not self.ann:
            return self.memory.dense(np.asarray(vector, dtype=np.float32), n, mask)
        nearest = {"column": "vector", "q": vector, "k": n, "metric": "cosine", "nprobes": self.nprobes,
                   "refine_factor": self.refine_factor}
        if n < MIN_EF:  # HNSW looks at ~n candidates: a top 10 alone had recall 0.82 at 1M chunks
            nearest["ef"] = MIN_EF
        t = self._dataset.to_table(columns=["_distance"], with_row_id=True, nearest=nearest, filter=where,
                                   prefilter=bool(where))
        return self.memory.rows(self.memory.positions(t["_rowid"].to_numpy()),
                                [1.0 - d for d in t["_distance"].to_pylist()])

    def bm25(self, query: str | Weighted, n: int, where: str | None = None,
             mask: np.ndarray | None = None) -> list[dict[str, Any]]:
        """Top-n rows by BM25 among those `where` allows; a query of (text, weight) parts scores Σ weight · BM25(text)
        in one query (a conversation's turns). Given `mask` (the same rows, in memory), the unfiltered
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

    def _bm25(self, query: str | Weighted, n: int, where: str | None) -> list[dict[str, Any]]:
        """Scores and row ids only: the ids come from memory (selecting them from LanceDB took half the time,
        6.6 vs 3.1 ms p50 at 100k chunks)."""
        t = self._dataset.to_table(columns=["_score"], with_row_id=True, full_text_query=full_text_query(query),
                                   limit=n, filter=where, prefilter=bool(where))
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
            t = self._dataset.take(offsets, columns=columns)
        by_id = {r["chunk_id"]: decode(r) for r in t.to_pylist()}
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
        rows = [decode(r) for r in self._dataset.to_table(columns=[*self.COLUMNS, "groups"], filter=condition)
                .to_pylist()]
        if not rows:
            return None
        rows.sort(key=lambda r: r["start"])
        text = ""
        for r in rows:  # chunks overlap and skip only whitespace between them: lay each at its offset
            if r["start"] > len(text):
                text += " " * (r["start"] - len(text))
            text = text[:r["start"]] + r["text"] + text[r["end"]:] if r["end"] > len(text) else text
        first = rows[0]
        return {"doc_id": doc_id, "title": first["title"], "source": public_source(first["source"]),
                "groups": first["groups"], "metadata": public_metadata(first["metadata"]), "text": text,
                "chunks": [{"chunk_id": r["chunk_id"], "start": r["start"], "end": r["end"],
                            "heading_path": list(r["heading_path"])} for r in rows]}

    def vectors(self, chunk_ids: list[str]) -> np.ndarray:
        """The stored vectors of the given chunks, in order."""
        if not self.ann:
            memory = self.memory
            assert memory.vectors is not None  # held in memory wherever there is no vector index
            return memory.vectors[[memory.position[c] for c in chunk_ids]]
        rows = self.chunks(chunk_ids, ["chunk_id", "vector"])
        return np.asarray([r["vector"] for r in rows], dtype=np.float32)


def full_text_query(query: str | Weighted):
    """Lance's query for a text, or for weighted texts: a boolean OR of boosted matches, whose score is the
    weighted sum of each text's BM25 score (a term in two texts counts with both weights)."""
    from lance.query import BooleanQuery, MatchQuery, Occur

    if isinstance(query, str):
        return MatchQuery(query, FTS_COLUMN)
    return BooleanQuery([(Occur.SHOULD, MatchQuery(text, FTS_COLUMN, boost=weight)) for text, weight in query])


def decode(row: dict[str, Any]) -> dict[str, Any]:
    row["metadata"] = json.loads(row["metadata"]) if row.get("metadata") else {}
    row["heading_path"] = tuple(row.get("heading_path") or ())
    return row


"""LanceDB storage for chunks. Writers change the table head; readers only ever open a tagged version, so a
half-written ingest is invisible to them, and the next writer rolls the head back to the live version first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa

TABLE = "chunks"
FTS_COLUMN = "index_text"


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
        ("vector", pa.list_(pa.float32(), dim)),
    ])


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class ChunkStore:
    """The writable chunks table (its head) and the tags that mark versions."""

    def __init__(self, path: Path):
        import lancedb

        self.path = path
        self._db = lancedb.connect(str(path))

    def exists(self) -> bool:
        return TABLE in self._db.list_tables().tables

    def table(self, dim: int | None = None):
        if self.exists():
            return self._db.open_table(TABLE)
        if dim is None:
            raise FileNotFoundError(f"no chunks table in {self.path}")
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
            table.delete(f"doc_id IN ({', '.join(_quote(d) for d in ids[i:i + 1000])})")

    def add(self, rows: list[dict[str, Any]], dim: int) -> None:
        if rows:
            self.table(dim).add(pa.Table.from_pylist(rows, schema=schema(dim)))

    def build_fts(self) -> None:
        import warnings

        # LanceDB's native BM25 with English stemming and stopwords, like the bm25s reference (ADR 0002)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # create_fts_index is marked deprecated but is the documented call
            self.table().create_fts_index(FTS_COLUMN, replace=True, language="English", stem=True,
                                          remove_stop_words=True, lower_case=True, ascii_folding=True)

    def build_vector_index(self, min_rows: int) -> bool:
        """An IVF_HNSW_SQ index on the vectors once the table holds `min_rows` rows (below that, exact flat
        search is fast enough and exact). Rebuilt at each changing ingest; returns whether one was built."""
        table = self.table()
        rows = table.count_rows()
        if rows < min_rows:
            return False
        table.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ",
                           num_partitions=max(1, rows // 8192), replace=True)
        return True

    def commit_tag(self, tag: str) -> int:
        """Tag the head as a version and return its LanceDB version number."""
        table = self.table()
        version = table.version
        if tag in table.tags.list():  # left by a run that crashed before recording it: not a real version
            table.tags.delete(tag)
        table.tags.create(tag, version)
        return version

    def view(self, tag: str, nprobes: int = 20, refine_factor: int = 5) -> IndexView:
        table = self._db.open_table(TABLE)
        table.checkout(tag)
        return IndexView(table, nprobes, refine_factor)


class IndexView:
    """A read-only, checked-out index version: what searches run against."""

    COLUMNS = ["chunk_id", "doc_id", "title", "text", "source", "start", "end", "heading_path", "metadata"]

    def __init__(self, table, nprobes: int = 20, refine_factor: int = 5):
        self._table = table
        self.nprobes, self.refine_factor = nprobes, refine_factor  # used only where a vector index exists

    @property
    def lance_version(self) -> int:
        return self._table.version

    def count_chunks(self) -> int:
        return self._table.count_rows()

    def column(self, name: str) -> list:
        """Every row's value of one column, in storage order."""
        return self._table.search().select([name]).limit(None).to_arrow()[name].to_pylist()

    def rows(self, columns: list[str]) -> pa.Table:
        """Some columns of every row, in storage order."""
        return self._table.search().select(columns).limit(None).to_arrow()

    def chunk_ids(self) -> list[tuple[str, str]]:
        """(chunk id, doc id) of every row, duplicates included: for integrity checks."""
        t = self._table.search().select(["chunk_id", "doc_id"]).limit(None).to_arrow()
        return list(zip(t["chunk_id"].to_pylist(), t["doc_id"].to_pylist()))

    def count_docs(self) -> int:
        return len(set(self.column("doc_id")))

    def dense(self, vector: np.ndarray, n: int, where: str | None = None) -> list[dict[str, Any]]:
        q = self._table.search(vector, vector_column_name="vector").distance_type("cosine") \
            .nprobes(self.nprobes).refine_factor(self.refine_factor)
        if where:
            q = q.where(where, prefilter=True)
        rows = q.select([*self.COLUMNS, "_distance"]).limit(n).to_list()  # scores named: no deprecation warning
        for r in rows:
            r["_score"] = 1.0 - float(r.pop("_distance"))
        return [_decode(r) for r in rows]

    def bm25(self, query: str, n: int, where: str | None = None) -> list[dict[str, Any]]:
        from lancedb.query import MatchQuery

        q = self._table.search(MatchQuery(query, FTS_COLUMN), query_type="fts")
        if where:
            q = q.where(where, prefilter=True)
        return [_decode(r) for r in q.select([*self.COLUMNS, "_score"]).limit(n).to_list()]

    def chunks(self, chunk_ids: list[str]) -> list[dict[str, Any]]:
        if not chunk_ids:
            return []
        where = f"chunk_id IN ({', '.join(_quote(c) for c in chunk_ids)})"
        return [_decode(r) for r in self._table.search().where(where).select(self.COLUMNS).limit(None).to_list()]


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row["metadata"] = json.loads(row["metadata"]) if row.get("metadata") else {}
    row["heading_path"] = tuple(row.get("heading_path") or ())
    return row

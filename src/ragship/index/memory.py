"""What an index view keeps in memory for fast search: row positions by chunk id, the filterable columns coded
by distinct value, and (without a vector index) the normalised vectors for exact dense search (ADR 0009)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ragship.errors import IndexNotReady

FILTERABLE = ("doc_id", "source", "groups", "tags")


class Memory:
    """What an index view keeps in memory: row positions by chunk id, the filterable columns, and (without a
    vector index) the normalised vectors."""

    def __init__(self, table: pa.Table):
        self.chunk_ids = table["chunk_id"].to_pylist()
        self.position = {c: i for i, c in enumerate(self.chunk_ids)}
        rowids = table["_rowid"].to_numpy()
        self._by_rowid = np.argsort(rowids, kind="stable")
        self._sorted_rowids = rowids[self._by_rowid]
        table = table.drop_columns(["_rowid"])
        self.columns = {name: Coded(table[name].to_pylist()) for name in FILTERABLE}
        self.vectors, self.table = None, None
        if "vector" in table.column_names:
            self.table = table.drop_columns(["vector"]).combine_chunks()  # one chunk: take() is then O(k)
            flat = table["vector"].combine_chunks()
            self.vectors = flat.values.to_numpy(zero_copy_only=False).reshape(len(flat), -1).astype(np.float32)
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self.vectors /= np.where(norms == 0, 1, norms)
            import torch

            self._torch_vectors = torch.from_numpy(self.vectors)  # the same memory

    def nbytes(self) -> int:
        """The arrays' bytes (row positions and, without a vector index, the vectors)."""
        return self._by_rowid.nbytes + self._sorted_rowids.nbytes + (self.vectors.nbytes if self.vectors is not None
                                                                    else 0)

    def dense(self, vector: np.ndarray, n: int, mask: np.ndarray | None) -> list[dict[str, Any]]:
        if not len(self.chunk_ids):
            return []
        vector = vector / (np.linalg.norm(vector) or 1.0)
        if mask is not None:
            n = min(n, int(mask.sum()))
        scores = self._scores(vector, mask)
        n = min(n, len(scores))
        if n <= 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > -np.inf]
        return self.rows(top, scores[top].tolist())

    def positions(self, rowids: np.ndarray) -> np.ndarray:
        """Storage positions of LanceDB row ids of this view's version."""
        i = np.searchsorted(self._sorted_rowids, rowids)
        if len(rowids) and (i.max() >= len(self._sorted_rowids) or (self._sorted_rowids[i] != rowids).any()):
            raise IndexNotReady("the index changed under an open view (unknown row ids); retry the query")
        return self._by_rowid[i]

    def rows(self, positions: np.ndarray, scores: list[float]) -> list[dict[str, Any]]:
        """(chunk_id, doc_id, _score) rows for storage positions."""
        doc = self.columns["doc_id"]
        return [{"chunk_id": self.chunk_ids[p], "doc_id": doc.distinct[doc.codes[p]], "_score": float(s)}
                for p, s in zip(positions.tolist(), scores)]

    def _scores(self, vector: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """Cosine of every allowed row, -inf elsewhere. The product runs in torch's thread pool, the one the
        cross-encoder uses: numpy's OpenBLAS threads kept spinning after it and slowed the rerank that follows from
        133 to 205 ms (ADR 0009). (A bf16 product picking candidates for an exact rescore: no gain, ADR 0009.)"""
        import torch

        scores = torch.mv(self._torch_vectors, torch.from_numpy(np.ascontiguousarray(vector))).numpy()
        return scores if mask is None else np.where(mask, scores, -np.inf)


class Coded:
    """A column as codes into its distinct values, so a predicate runs once per distinct value, not per row."""

    def __init__(self, values: list):
        keys = [tuple(v) if isinstance(v, list) else v for v in values]
        self.distinct = list(dict.fromkeys(keys))
        index = {v: i for i, v in enumerate(self.distinct)}
        self.codes = np.fromiter((index[k] for k in keys), dtype=np.int64, count=len(keys))

    def where(self, predicate) -> np.ndarray:
        """Rows whose value satisfies the predicate."""
        allowed = np.fromiter((bool(predicate(v)) for v in self.distinct), dtype=bool, count=len(self.distinct))
        return allowed[self.codes]

"""Search over an index view: dense (cosine), BM25 (LanceDB native full-text) and hybrid fusion."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ragship.embed.base import Embedder
from ragship.errors import QueryError
from ragship.index.store import IndexView
from ragship.retrieve.fusion import convex_combination, reciprocal_rank_fusion
from ragship.retrieve.rerank import Reranker, rerank
from ragship.settings import SearchSettings
from ragship.types import Hit

MAX_QUERY_CHARS = 2000
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ragship-bm25")


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)
    signals: dict[str, float] = field(default_factory=dict)  # evidence strength, for answer confidence

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "mode": self.mode, "results": [h.to_dict() for h in self.hits],
                "timings_ms": self.timings_ms}


class Searcher:
    def __init__(self, view: IndexView, embedder: Embedder, settings: SearchSettings,
                 reranker: Reranker | None = None, rerank_top_n: int = 20):
        self.view, self.embedder, self.settings = view, embedder, settings
        self.reranker, self.rerank_top_n = reranker, rerank_top_n

    def search(self, query: str, mode: str | None = None, k: int | None = None) -> SearchResult:
        mode = mode or self.settings.mode
        k = self.settings.top_k if k is None else k
        query = self._check(query, mode, k)
        timings: dict[str, float] = {}
        depth = max(self.settings.candidates, k)
        # hybrid: BM25 runs in a worker thread while the query is embedded and searched densely (LanceDB and
        # torch release the GIL), so the two retrievals overlap instead of adding up
        pending = _POOL.submit(self.bm25_rows, query, depth, timings) if mode == "hybrid" else None
        dense = self.dense_rows(query, depth, timings) if mode in ("dense", "hybrid") else []
        lexical = pending.result() if pending else self.bm25_rows(query, depth, timings) if mode == "bm25" else []
        if mode == "hybrid":
            t = time.perf_counter()
            rows = fused_rows(self.settings, dense, lexical)
            timings["fuse"] = _ms(t)
        else:
            rows = dense or lexical
        found = signals(dense, lexical, rows)
        if self.reranker is None:
            hits = [to_hit(r, rank) for rank, r in enumerate(rows[:k], 1)]
        else:
            t = time.perf_counter()
            pool = [to_hit(r, rank) for rank, r in enumerate(rows[:max(k, self.rerank_top_n)], 1)]
            hits = rerank(self.reranker, query, pool, self.rerank_top_n)[:k]
            timings["rerank"] = _ms(t)
            found |= {"rerank_top": hits[0].score if hits else 0.0,
                      "rerank_margin": hits[0].score - hits[1].score if len(hits) > 1 else 0.0}
        return SearchResult(query, mode, hits, timings, found)

    def _check(self, query: str, mode: str, k: int) -> str:
        query = (query or "").strip()
        if not query:
            raise QueryError("query is empty; pass the text to search for")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
        if mode not in ("dense", "bm25", "hybrid"):
            raise QueryError(f"mode must be one of dense, bm25, hybrid; got {mode!r}")
        if not 1 <= k <= self.settings.max_k:
            raise QueryError(f"k must be between 1 and {self.settings.max_k}; got {k}")
        return query

    def dense_rows(self, query: str, n: int, timings: dict[str, float]) -> list[dict]:
        """Top-n chunk rows by cosine similarity; records embed and search time in `timings`."""
        t = time.perf_counter()
        vector = self.embedder.embed_query(query)
        timings["embed"] = _ms(t)
        t = time.perf_counter()
        rows = self.view.dense(vector, n)
        timings["dense"] = _ms(t)
        return rows

    def bm25_rows(self, query: str, n: int, timings: dict[str, float]) -> list[dict]:
        """Top-n chunk rows by BM25; records search time in `timings`."""
        t = time.perf_counter()
        rows = self.view.bm25(query, n)
        timings["bm25"] = _ms(t)
        return rows



def signals(dense: list[dict], lexical: list[dict], fused: list[dict], depth: int = 5) -> dict[str, float]:
    """How strong and how consistent the evidence is: top scores, margins to the next result, and whether the
    dense and BM25 rankings agree on the top documents. Features of the answer confidence model."""

    def top(rows, i=0):
        return float(rows[i]["_score"]) if len(rows) > i else 0.0

    out = {"fused_top": top(fused), "fused_margin": top(fused) - top(fused, 1)}
    if dense:
        out |= {"dense_top": top(dense), "dense_margin": top(dense) - top(dense, 1)}
    if lexical:
        out |= {"bm25_top": top(lexical), "bm25_margin": (top(lexical) - top(lexical, 1)) / max(top(lexical), 1e-9)}
    if dense and lexical:
        a, b = {r["doc_id"] for r in dense[:depth]}, {r["doc_id"] for r in lexical[:depth]}
        out["agreement"] = len(a & b) / len(a | b)
        out["same_top"] = float(dense[0]["doc_id"] == lexical[0]["doc_id"])
    return out


def fuse(s: SearchSettings, dense: list[dict], lexical: list[dict]) -> dict[str, float]:
    """Hybrid scores of chunk ids from the dense and BM25 result rows, by the configured fusion."""
    if s.fusion == "convex":
        return convex_combination([{r["chunk_id"]: r["_score"] for r in dense},
                                   {r["chunk_id"]: r["_score"] for r in lexical}], [s.dense_weight, s.bm25_weight])
    return reciprocal_rank_fusion([[r["chunk_id"] for r in dense], [r["chunk_id"] for r in lexical]],
                                  [s.dense_weight, s.bm25_weight], s.rrf_k)


def fused_rows(s: SearchSettings, dense: list[dict], lexical: list[dict]) -> list[dict]:
    """The union of both result lists, ordered by fused score (which replaces `_score`)."""
    fused = fuse(s, dense, lexical)
    by_id = {r["chunk_id"]: r for r in lexical} | {r["chunk_id"]: r for r in dense}
    return [{**by_id[c], "_score": fused[c]} for c in sorted(fused, key=fused.__getitem__, reverse=True)]


def to_hit(row: dict, rank: int) -> Hit:
    return Hit(
        chunk_id=row["chunk_id"], doc_id=row["doc_id"], title=row["title"], text=row["text"], source=row["source"],
        start=row["start"], end=row["end"], heading_path=row["heading_path"], score=float(row["_score"]), rank=rank,
        metadata=row["metadata"],
    )


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 3)

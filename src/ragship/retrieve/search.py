"""Search over an index view: dense (cosine), BM25 (LanceDB native full-text) and hybrid fusion."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ragship.embed.base import Embedder
from ragship.errors import QueryError
from ragship.index.store import IndexView
from ragship.index.view import Weighted
from ragship.retrieve.filters import Filter
from ragship.retrieve.fusion import convex_combination, maximal_marginal_relevance, reciprocal_rank_fusion
from ragship.retrieve.rerank import Reranker, rerank
from ragship.settings import SearchSettings
from ragship.types import SEARCH_MODES, Hit
from ragship.util.clock import ms_since

MAX_QUERY_CHARS = 2000
RANKED_KEPT = 5  # rows of each ranking kept in a result, for readers of the evidence (answer confidence)
OVERLAP = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ragship-bm25")  # see Searcher._lexical


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)
    # the head of each ranking as retrieved (light rows: chunk_id, doc_id, _score): "dense", "bm25", "fused" and,
    # when a cross-encoder ran, "rerank"
    ranked: dict[str, list[dict]] = field(default_factory=dict)
    index_version: str = ""  # the version that served it
    query_vector: Any = field(default=None, repr=False, compare=False)  # the query's embedding (dense/hybrid)
    context: Weighted = ()  # texts searched with the query, each with its weight (a conversation's earlier turns)
    query_model: str = ""  # the model_id of the embedder that made query_vector

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "mode": self.mode, "results": [h.to_dict() for h in self.hits],
                "timings_ms": self.timings_ms, "index_version": self.index_version,
                **({"context": [{"text": t, "weight": w} for t, w in self.context]} if self.context else {})}


class Searcher:
    def __init__(self, view: IndexView, embedder: Embedder, settings: SearchSettings,
                 reranker: Reranker | None = None, rerank_top_n: int = 20):
        self.view, self.embedder, self.settings = view, embedder, settings
        self.reranker, self.rerank_top_n = reranker, rerank_top_n

    def search(self, query: str, mode: str | None = None, k: int | None = None, filter: Filter | None = None,
               mmr: float | None = None, context: Weighted = ()) -> SearchResult:
        """The top-k chunks for the query among those `filter` allows (permissions and metadata, applied inside
        each retriever's query). `mmr` (λ in [0, 1], 1 = off) re-orders the candidates for diversity. `context`:
        other texts searched with the query, each with its weight (the query weighs 1): BM25 adds their scores at
        their weights, dense search adds their vectors to the query's (retrieve/conversation.py)."""
        mode = mode or self.settings.mode
        k = self.settings.top_k if k is None else k
        mmr = self.settings.mmr_lambda if mmr is None else mmr
        query = self._check(query, mode, k, mmr)
        context = tuple((text.strip()[:MAX_QUERY_CHARS], float(w)) for text, w in context if text.strip() and w > 0)
        flt = filter or Filter()
        timings: dict[str, float] = {}
        depth = max(self.settings.candidates, k)
        t = time.perf_counter()
        mask = flt.mask(self.view.memory.columns)  # the same rows as flt.sql(), for in-memory search
        timings["filter"] = ms_since(t)
        lexical = self._lexical(((query, 1.0), *context) if context else query, mode, depth, timings, flt, mask)
        vector = self.embed(query, timings, context) if mode in ("dense", "hybrid") else None
        dense = [] if vector is None else self.dense_rows(query, depth, timings, flt, mask, vector)
        lexical = lexical.result() if isinstance(lexical, Future) else lexical
        if mode == "hybrid":
            t = time.perf_counter()
            rows = fused_rows(self.settings, dense, lexical)
            timings["fuse"] = ms_since(t)
        else:
            rows = dense or lexical
        ranked = {name: rows_[:RANKED_KEPT] for name, rows_ in (("dense", dense), ("bm25", lexical), ("fused", rows))
                  if rows_ or name == "fused"}
        pool = max(k, self.rerank_top_n) if self.reranker else k
        if mmr < 1.0:
            rows = self._diversify(rows, max(pool, 4 * k), pool, mmr, timings)
        hits = self._hits(rows[:pool], timings)
        if self.reranker is not None:
            t = time.perf_counter()
            hits = rerank(self.reranker, query, hits, self.rerank_top_n)
            timings["rerank"] = ms_since(t)
            ranked["rerank"] = [{"chunk_id": h.chunk_id, "doc_id": h.doc_id, "_score": h.score}
                                for h in hits[:RANKED_KEPT]]
        return SearchResult(query, mode, hits[:k], timings, ranked, self.view.version_id, vector, context,
                            self.embedder.model_id)

    def _lexical(self, query: str | Weighted, mode: str, depth: int, timings: dict[str, float], flt: Filter,
                 mask) -> list[dict] | Future:
        """BM25's rows, or (hybrid over a vector index) a Future of them, run while the query is encoded and the
        index searched: at 1M chunks both retrievers wait on LanceDB, and overlapping them took hybrid search
        from 40.5 to 32.9 ms p50 and 59.5 to 47.9 ms p95 (ADR 0016 §5). Over vectors held in memory they run one
        after the other: at 100k chunks the overlap gave the same p50 and a worse p95 (LanceDB's and ONNX
        Runtime's threads compete for the 2 cores; ADR 0009)."""
        if mode not in ("bm25", "hybrid"):
            return []
        if mode == "hybrid" and self.view.ann:
            return OVERLAP.submit(self.bm25_rows, query, depth, timings, flt, mask)
        return self.bm25_rows(query, depth, timings, flt, mask)

    def _check(self, query: str, mode: str, k: int, mmr: float) -> str:
        query = (query or "").strip()
        if not query:
            raise QueryError("query is empty; pass the text to search for")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
        if mode not in SEARCH_MODES:
            raise QueryError(f"mode must be one of {', '.join(SEARCH_MODES)}; got {mode!r}")
        if not 1 <= k <= self.settings.max_k:
            raise QueryError(f"k must be between 1 and {self.settings.max_k}; got {k}")
        if not 0.0 <= mmr <= 1.0:
            raise QueryError(f"mmr must be between 0 (most diverse) and 1 (off); got {mmr}")
        return query

    def embed(self, query: str, timings: dict[str, float], context: Weighted = ()):
        """The query's vector; with `context`, the weighted sum of its and theirs, unit length."""
        t = time.perf_counter()
        vector = self.embedder.embed_query(query)
        if context:
            import numpy as np

            turns = self.embedder.embed_queries([text for text, _ in context])  # one batch for the unseen
            vector = vector + np.asarray([w for _, w in context], dtype=np.float32) @ turns
            vector = (vector / (np.linalg.norm(vector) or 1.0)).astype(np.float32)
        timings["embed"] = ms_since(t)
        return vector

    def dense_rows(self, query: str, n: int, timings: dict[str, float], flt: Filter = Filter(),
                   mask=None, vector=None) -> list[dict]:
        """Top-n (chunk_id, doc_id, _score) rows by cosine similarity; records embed and search time."""
        vector = self.embed(query, timings) if vector is None else vector
        t = time.perf_counter()
        rows = self.view.dense(vector, n, where=flt.sql(), mask=mask)
        timings["dense"] = ms_since(t)
        return rows

    def bm25_rows(self, query: str | Weighted, n: int, timings: dict[str, float], flt: Filter = Filter(),
                  mask=None) -> list[dict]:
        """Top-n (chunk_id, doc_id, _score) rows by BM25; records search time in `timings`."""
        t = time.perf_counter()
        rows = self.view.bm25(query, n, where=flt.sql(), mask=mask)
        timings["bm25"] = ms_since(t)
        return rows

    def _diversify(self, rows: list[dict], pool: int, k: int, lam: float, timings: dict[str, float]) -> list[dict]:
        t = time.perf_counter()
        head = rows[:pool]
        picked = maximal_marginal_relevance([r["_score"] for r in head],
                                            self.view.vectors([r["chunk_id"] for r in head]), k, lam)
        timings["mmr"] = ms_since(t)
        return [head[i] for i in picked]

    def _hits(self, rows: list[dict], timings: dict[str, float]) -> list[Hit]:
        """The shown rows with their text and citation fields, fetched by position."""
        t = time.perf_counter()
        full = {r["chunk_id"]: r for r in self.view.chunks([r["chunk_id"] for r in rows])}
        timings["fetch"] = ms_since(t)
        return [to_hit({**full[r["chunk_id"]], "_score": r["_score"]}, rank) for rank, r in enumerate(rows, 1)
                if r["chunk_id"] in full]


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
    by_id = {r["chunk_id"]: r for r in lexical} | {r["chunk_id"]: r for r in dense}  # light rows: id, doc, score
    return [{**by_id[c], "_score": fused[c]} for c in sorted(fused, key=fused.__getitem__, reverse=True)]


def to_hit(row: dict, rank: int) -> Hit:
    return Hit(
        chunk_id=row["chunk_id"], doc_id=row["doc_id"], title=row["title"], text=row["text"], source=row["source"],
        start=row["start"], end=row["end"], heading_path=row["heading_path"], score=float(row["_score"]), rank=rank,
        metadata=row["metadata"],
    )

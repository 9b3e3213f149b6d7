"""Training pairs for the bi-encoder: (query, positive passage, hard negative passage).

- labeled: judged queries; the positive is the judged document's chunk BM25 ranks highest for the query (its
  first chunk if BM25 misses it); the negative is a random non-judged document among BM25's top
  `NEGATIVE_DEPTH`, so it shares the query's words without being marked relevant (dense results fill in when
  BM25 finds too few documents, as in tiny corpora).
- inverse cloze (Lee et al., ACL 2019, "ICT"), for corpora without labels: a sentence taken out of a chunk is the
  query, the rest of the chunk (with its title) the positive; the negative is BM25's best chunk of another
  document for that sentence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ragship.retrieve.search import Searcher
from ragship.text import sentence_spans

NEGATIVE_DEPTH = 20
MIN_QUERY_WORDS = 6


@dataclass(frozen=True)
class Pair:
    qid: str
    query: str
    positive: str
    negative: str


def corpus_chunks(searcher: Searcher) -> dict[str, list[tuple[str, str]]]:
    """{doc id: [(chunk id, embedded text)]} of the live index, chunks in document order."""
    t = searcher.view.rows(["chunk_id", "doc_id", "index_text", "start"])
    out: dict[str, list[tuple[int, str, str]]] = {}
    for c, d, text, start in zip(*(t[n].to_pylist() for n in ("chunk_id", "doc_id", "index_text", "start"))):
        out.setdefault(d, []).append((start, c, text))
    return {d: [(c, text) for _, c, text in sorted(rows)] for d, rows in out.items()}


def labeled_pairs(queries: dict[str, str], qrels: dict[str, dict[str, int]], searcher: Searcher,
                  rng: random.Random) -> list[Pair]:
    chunks = corpus_chunks(searcher)
    text_of = {c: t for rows in chunks.values() for c, t in rows}
    pairs = []
    for qid, query in queries.items():
        positives = [d for d, grade in qrels.get(qid, {}).items() if grade > 0 and d in chunks]
        rows = searcher.bm25_rows(query, 100, {})
        rows += searcher.dense_rows(query, NEGATIVE_DEPTH, {}) if len(rows) < NEGATIVE_DEPTH else []
        best_chunk: dict[str, str] = {}
        for r in rows:
            best_chunk.setdefault(r["doc_id"], r["chunk_id"])
        negatives = [d for d in best_chunk if d not in qrels.get(qid, {})][:NEGATIVE_DEPTH]
        if not negatives:
            continue
        for doc in positives:
            positive = text_of[best_chunk[doc]] if doc in best_chunk else chunks[doc][0][1]
            pairs.append(Pair(qid, query, positive, text_of[best_chunk[rng.choice(negatives)]]))
    return pairs


def cloze_pairs(searcher: Searcher, rng: random.Random, limit: int, docs: set[str] | None = None) -> list[Pair]:
    """Inverse-cloze pairs from the chunks of `docs` (every document when None)."""
    every = corpus_chunks(searcher)
    text_of = {c: t for rows in every.values() for c, t in rows}
    chunks = [(d, c, t) for d, rows in every.items() if docs is None or d in docs for c, t in rows]
    rng.shuffle(chunks)
    pairs = []
    for doc, chunk_id, text in chunks:
        head, _, body = text.partition("\n") if "\n" in text else ("", "", text)
        spans = [(s, e) for s, e in sentence_spans(body) if len(body[s:e].split()) >= MIN_QUERY_WORDS]
        if len(spans) < 2:
            continue
        s, e = rng.choice(spans)
        query, rest = body[s:e], (body[:s] + body[e:]).strip()
        others = [r for r in searcher.bm25_rows(query, NEGATIVE_DEPTH, {}) if r["doc_id"] != doc]
        if not others:
            continue
        pairs.append(Pair(chunk_id, query, f"{head}\n{rest}" if head else rest, text_of[others[0]["chunk_id"]]))
        if len(pairs) >= limit:
            break
    return pairs

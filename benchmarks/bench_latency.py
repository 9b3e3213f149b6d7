"""Hybrid search latency at 100k chunks: SciFact's real chunks plus synthetic filler, ragship next to
LlamaIndex's hybrid retrieval (QueryFusionRetriever over BM25Retriever + a vector index) on the same rows.

Filler rows: text made of 3-8 sentences drawn at random from SciFact (so BM25 postings look real), cut to the
chunker's size (`chunk.tokens` of the embedder's tokenizer, as every real chunk is), vectors a random mix of two
real chunk vectors plus noise, normalised (so the vector index faces a realistic distribution). Both
systems get the same rows and vectors; queries are SciFact's 300 test queries, one at a time, query embedding
included. Also printed: recall@10 of ragship's ANN dense search against exact search on the same table.

    python benchmarks/bench_latency.py [--rows 100000] [--reranker PATH] [--data ../shared/datasets/scifact]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ragship.settings import SearchSettings
from ragship.testing.bench import commit, corpus_file, machine, write_section

ROOT = Path(__file__).resolve().parents[1]

SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"

ANN_DEFAULT = SearchSettings().ann_min_rows  # from this many chunks the default dense search is the vector index


def percentiles(ms: list[float]) -> dict:
    """p50/p95/p99 by ragship's one definition (numpy's linear interpolation; ragship/util/stats.py)."""
    from ragship.util.stats import latency_summary

    return {k: v for k, v in latency_summary(ms, digits=1).items() if k != "mean"}


def build_rows(home: Path, cache: Path, n: int, seed: int = 0, data: Path = SCIFACT):
    """SciFact (or another BEIR folder) ingested for real, then filler rows added to the same table until it holds n
    rows."""
    from ragship.engine import Engine
    from ragship.settings import load_settings
    from ragship.text import sentence_spans

    engine = Engine(load_settings(home=home, cache_dir=cache, search={"ann_min_rows": 10 ** 9}))
    engine.ingest([corpus_file(data)])
    store = engine.store()
    table = store.table()
    real = table.search().limit(None).to_arrow().to_pylist()
    sentences = [r["text"][s:e] for r in real for s, e in sentence_spans(r["text"])]
    vectors = np.stack([np.asarray(r["vector"], dtype=np.float32) for r in real])
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    filler, dim = [], vectors.shape[1]
    texts = [[rng.choice(sentences) for _ in range(rng.randint(3, 8))] for _ in range(n - len(real))]
    for i, text in enumerate(fit_chunk_size(texts, engine)):
        a, b = vectors[rng.randrange(len(vectors))], vectors[rng.randrange(len(vectors))]
        v = a + 0.5 * b + nrng.normal(0, 0.05, dim).astype(np.float32)
        filler.append({"chunk_id": f"filler-{i}#0", "doc_id": f"filler-{i}", "doc_hash": "filler",
                       "source": "filler", "title": "", "text": text, "index_text": text, "start": 0,
                       "end": len(text), "heading_path": [], "metadata": "{}", "groups": [f"g{i % 4}"], "tags": [],
                       "vector": v / np.linalg.norm(v)})
    for i in range(0, len(filler), 10_000):
        store.add(filler[i:i + 10_000], dim)
    t = time.perf_counter()
    store.build_fts()
    fts_s = time.perf_counter() - t
    return engine, real + filler, fts_s


def fit_chunk_size(texts: list[list[str]], engine) -> list[str]:
    """Each text's sentences, dropped from the end until it fits a chunk (at least one sentence kept)."""
    from transformers import AutoTokenizer

    # the model's own tokenizer, whichever encoder path (torch, ONNX, OpenVINO) runs it
    tokenizer, limit = AutoTokenizer.from_pretrained(engine.embedder.path), engine.settings.chunk.tokens
    out = []
    for i in range(0, len(texts), 2000):
        batch = texts[i:i + 2000]
        sizes = tokenizer([s for t in batch for s in t], add_special_tokens=False)["input_ids"]
        pos = 0
        for t in batch:
            lengths, pos = [len(x) for x in sizes[pos:pos + len(t)]], pos + len(t)
            keep = len(t)
            while keep > 1 and sum(lengths[:keep]) > limit:
                keep -= 1
            out.append(" ".join(t[:keep]))
    return out


def timed(searcher, queries: list[str], flt=None) -> dict:
    searcher.search(queries[0], "hybrid", 10, flt)
    ms = []
    for q in queries:
        t = time.perf_counter()
        searcher.search(q, "hybrid", 10, flt)
        ms.append((time.perf_counter() - t) * 1000)
    return percentiles(ms)


def logging_overhead(searcher, queries: list[str], state) -> dict:
    """What the server's per-request monitoring costs: each query searched twice, once plain and once followed
    by its query-log row with the float16 drift sketch (Observation.of_search + QueryLog.record, as the server
    does), in alternating order."""
    from ragship.monitor.querylog import Observation, QueryLog

    log, plain, logged = QueryLog(state, "redact"), [], []
    searcher.search(queries[0], "hybrid", 10)
    for i, q in enumerate(queries):
        for with_log in ((False, True) if i % 2 else (True, False)):
            t = time.perf_counter()
            result = searcher.search(q, "hybrid", 10)
            if with_log:
                log.record(Observation.of_search(result, "bench", "default", 0.0))
            (logged if with_log else plain).append((time.perf_counter() - t) * 1000)
    out = {"plain": percentiles(plain), "logged": percentiles(logged)}
    out["p50_added_ms"] = round(out["logged"]["p50"] - out["plain"]["p50"], 2)
    return out


def ragship_latency(engine, queries: list[str], reranker: str | None) -> dict:
    """The default at this size (exact dense search over vectors held in memory, below search.ann_min_rows),
    the same with a permission filter, with a reranker, and with the IVF_HNSW_SQ index instead."""
    from ragship.engine import Engine
    from ragship.retrieve.filters import Filter

    store, live = engine.store(), engine.registry.live()
    store.commit_tag(live.id)  # the live tag now names all rows (filler included), without a vector index
    flat = Engine(engine.settings)
    t = time.perf_counter()
    flat.view().memory
    results = {"memory_load_s": round(time.perf_counter() - t, 1), "hybrid": timed(flat.searcher(), queries),
               "hybrid_filtered": timed(flat.searcher(), queries, Filter(frozenset({"g0"}))),
               "query_log": logging_overhead(flat.searcher(), queries, engine.state)}
    if reranker:
        settings = engine.settings.model_copy(update={"rerank": engine.settings.rerank.model_copy(
            update={"model": reranker, "top_n": 20})})
        results["hybrid_rerank_top20"] = timed(Engine(settings).searcher(), queries)
    vectors = [flat.embedder.embed_query(q) for q in queries]
    exact = [{r["chunk_id"] for r in flat.view().dense(v, 10)} for v in vectors]
    results["rss_mib"] = rss_mib()  # this process served every run above: its resident and peak memory
    del flat
    release_memory()  # the exact engine's vectors and the rows built: not held while the index is timed
    t = time.perf_counter()
    store.build_vector_index(min_rows=1)
    results["vector_index_build_s"] = round(time.perf_counter() - t, 1)
    store.commit_tag(live.id)  # the tag now names the head with both indexes
    ann = Engine(engine.settings)
    ann.warm_up()  # as a server starts: the models, and the version's indexes loaded before the first query
    assert ann.view().ann
    results["hybrid_ann"] = timed(ann.searcher(), queries)
    recalls = [len(e & {r["chunk_id"] for r in ann.view().dense(v, 10)}) / 10 for v, e in zip(vectors, exact)]
    results["ann_recall@10_vs_exact"] = round(float(np.mean(recalls)), 4)
    results["rss_ann_mib"] = rss_mib()
    results["serving_process"] = serving_process(engine.home.root, engine.home.cache_dir, queries)
    return results


def serving_process(home: Path, cache: Path, queries: list[str]) -> dict:
    """One `ragship serve` process on the built home, on its own: the queries as hybrid searches over HTTP, one at
    a time, then its resident and peak memory (what one replica needs at this size) and the latency its client
    saw (HTTP and JSON included)."""
    import httpx

    from ragship.testing import Server, env_for

    env, ms = env_for(home, home / "none.toml", cache), []
    with Server(env, ready_s=300) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        c.get("/v1/search", params={"q": queries[0], "k": 10}).raise_for_status()
        for q in queries:
            t = time.perf_counter()
            c.get("/v1/search", params={"q": q, "k": 10}).raise_for_status()
            ms.append((time.perf_counter() - t) * 1000)
        status = dict(line.split(":", 1) for line in Path(f"/proc/{server.pid}/status").read_text().splitlines()
                      if ":" in line)
    mib = {k: round(int(status[field].split()[0]) / 1024) for k, field in (("now", "VmRSS"), ("peak", "VmHWM"))}
    return {"rss_mib": mib, "http_hybrid": percentiles(ms)}


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc keeps it otherwise), so that a later timed run
    is not measured in a process swollen by an earlier one."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def rss_mib() -> dict:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {k: round(int(status[field].split()[0]) / 1024) for k, field in (("now", "VmRSS"), ("peak", "VmHWM"))}


def untrained_reranker(engine, out: Path) -> str:
    """The embedding model's MiniLM encoder with a new one-logit head: what `ragship adapt --reranker` trains,
    so the same cost per pair; its scores mean nothing (latency only)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = engine.embedder.inner.path
    AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).save_pretrained(str(out))
    AutoTokenizer.from_pretrained(path).save_pretrained(str(out))
    return str(out)


def write_peer_rows(rows: list[dict], data: Path) -> None:
    with data.open("w") as f:
        for r in rows:
            f.write(json.dumps({"id": r["chunk_id"], "text": r["index_text"],
                                "vector": [round(float(x), 6) for x in r["vector"]]}) + "\n")


def llamaindex_latency(data: Path, queries: list[str], tmp: Path) -> dict:
    python = ROOT / ".venv-peers" / "bin" / "python"
    if not python.exists():
        return {"skipped": "run `make peers-venv`"}
    (tmp / "queries.json").write_text(json.dumps(queries))
    out = subprocess.run([str(python), str(ROOT / "benchmarks" / "peers" / "latency_llamaindex.py"), str(data),
                          str(tmp / "queries.json")], capture_output=True, text=True, timeout=3600)
    if out.returncode:
        return {"error": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--reranker", default=None, help="cross-encoder path for the rerank run (e.g. from adapt); "
                    "default: MiniLM-L6 with a new head, as `ragship adapt` starts one (the same cost per pair)")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--cache", type=Path, default=None, help="reuse an embedding cache for the SciFact ingest")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument("--section", default="latency", help="the section of --out to write (latency-1m for 1M rows)")
    ap.add_argument("--data", type=Path, default=SCIFACT, help="the BEIR folder whose corpus and test queries are used")
    args = ap.parse_args()
    from ragship.evaluate.beir import load_dataset

    queries = list(load_dataset(args.data, "test").queries.values())
    print(json.dumps({"machine": machine(), "commit": commit()}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine, rows, fts_s = build_rows(Path(tmp) / "home", args.cache or Path(tmp) / "cache", args.rows,
                                         data=args.data)
        n, data = len(rows), Path(tmp) / "rows.jsonl"
        if not args.no_peer:
            write_peer_rows(rows, data)
        del rows  # 100k dicts with vectors: left alive, the garbage collector's scans of them add ~5 ms to p50
        release_memory()
        print(json.dumps({"rows": n, "fts_build_s": round(fts_s, 1)}), flush=True)
        reranker = args.reranker or untrained_reranker(engine, Path(tmp) / "reranker-untrained")
        ours = ragship_latency(engine, queries, reranker)
        print(json.dumps({"ragship": ours}), flush=True)
        peer = {"skipped": "--no-peer"} if args.no_peer else llamaindex_latency(data, queries, Path(tmp))
        print(json.dumps({"llamaindex": peer}), flush=True)
    write_section(args.out, args.section, render(n, fts_s, ours, peer, args.reranker or "MiniLM-L6, untrained head",
                                                 args.section))
    print(f"wrote the {args.section} section of {args.out}")


def _serving(ours: dict) -> str:
    served = ours.get("serving_process")
    if not served:
        return "not measured"
    http = served["http_hybrid"]
    return (f"{served['rss_mib']['now']} MiB resident, {served['rss_mib']['peak']} MiB peak (hybrid over HTTP "
            f"p50/p95 {http['p50']}/{http['p95']} ms)")


def render(rows: int, fts_s: float, ours: dict, peer: dict, reranker: str | None, section: str = "latency") -> str:
    ann = SearchSettings()
    def row(name, p):
        return f"| {name} | {p['p50']} | {p['p95']} | {p['p99']} |"

    lines = [
        f"## Hybrid search latency at {rows:,} chunks (SciFact chunks + synthetic filler; `make bench-{section}`)",
        "",
        f"- {machine()}, commit {commit()}; 300 SciFact test queries one at a time, query embedding included",
        f"- LanceDB FTS (built in {fts_s:.1f} s) for BM25; exact dense search over the vectors held in memory "
        f"(loaded in {ours['memory_load_s']} s){' (the default at this size)' if rows < ANN_DEFAULT else ''}; "
        "queries encoded on ONNX Runtime (float32); filler chunks cut to the chunk size (200 tokens) like real ones",
        f"- the IVF_HNSW_SQ index (built in {ours['vector_index_build_s']} s; nprobes {ann.ann_nprobes}, refine "
        f"factor {ann.ann_refine_factor}; BM25 overlapped with encoding and the index search; warmed up as a server "
        "starts, its indexes loaded before the first query; "
        f"{'**the default at this size**' if rows >= ANN_DEFAULT else 'the default'} from search.ann_min_rows = "
        f"{ANN_DEFAULT:,} chunks): dense recall@10 against exact **{ours['ann_recall@10_vs_exact']}**",
        f"- memory of the benchmark's process: {ours['rss_mib']['now']} MiB resident after the exact runs, "
        f"{ours['rss_mib']['peak']} MiB at its peak (building the rows included); "
        f"{ours.get('rss_ann_mib', {}).get('now', '?')} MiB while the vector index was timed (the exact engine "
        f"released); a `ragship serve` process on the same home, alone, after the 300 queries over HTTP: "
        f"{_serving(ours)}",
        "- filtered: a reader in group g0 (SciFact public, filler split over groups g0..g3), applied inside both "
        "retrievers' queries",
        "",
        "| run | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|",
        row("ragship hybrid (RRF, top 10 of 100 + 100)", ours["hybrid"]),
        row("ragship hybrid, permission filter", ours["hybrid_filtered"]),
        row("ragship hybrid, searched alone (A/B pair of the next row)", ours["query_log"]["plain"]),
        row(f"ragship hybrid + query-log row with drift sketch (p50 +{ours['query_log']['p50_added_ms']} ms)",
            ours["query_log"]["logged"]),
        row("ragship hybrid, IVF_HNSW_SQ vector index", ours["hybrid_ann"]),
    ]
    if "serving_process" in ours:
        lines.append(row("the same over HTTP, a lone `ragship serve` process", ours["serving_process"]["http_hybrid"]))
    if "hybrid_rerank_top20" in ours:
        lines.append(row(f"ragship hybrid + cross-encoder rerank of the top 20 ({reranker})",
                         ours["hybrid_rerank_top20"]))
    if "hybrid" in peer:
        lines.append(row(peer["system"] + " (same rows and vectors)", peer["hybrid"]))
    elif "skipped" not in peer:
        lines.append(f"| LlamaIndex: {peer} | | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

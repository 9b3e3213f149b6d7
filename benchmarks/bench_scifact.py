"""`make bench`: SciFact (BEIR) quality, latency and ingest throughput for ragship, next to the bm25s reference
run on the same data in the same process. Writes docs/benchmarks.md; never edit that file by hand.

Usage: python benchmarks/bench_scifact.py [--data ../shared/datasets/scifact] [--out docs/benchmarks.md]
       [--cache DIR]  (reuse an embedding cache: faster, but ingest throughput is then not measured)
"""

from __future__ import annotations

import argparse
import gzip
import json
import operator
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from ragship.testing.bench import commit, corpus_file, kept_sections, machine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "scifact"


def bm25s_reference(data: Path) -> dict:
    """bm25s 0.3.16, Lucene variant, k1 1.5, b 0.75, English stopwords and PyStemmer: the published setting."""
    import bm25s
    import Stemmer

    from ragship.evaluate.beir import load_dataset
    from ragship.evaluate.runner import run_retrieval
    from ragship.types import Hit

    ds = load_dataset(data, "test")
    with gzip.open(ds.corpus, "rt") if ds.corpus.suffix == ".gz" else ds.corpus.open() as f:
        docs = [json.loads(line) for line in f if line.strip()]
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    retriever.index(bm25s.tokenize([f"{d['title']} {d['text']}" for d in docs], stopwords="en", stemmer=stemmer,
                                   show_progress=False), show_progress=False)

    def search(text):
        tokens = bm25s.tokenize(text, stopwords="en", stemmer=stemmer, show_progress=False)
        res, scores = retriever.retrieve(tokens, k=min(100, len(docs)), show_progress=False, n_threads=1)
        return [Hit(docs[i]["_id"], docs[i]["_id"], "", "", "", 0, 0, (), float(s), r)
                for r, (i, s) in enumerate(zip(res[0], scores[0]), 1)]

    return run_retrieval(ds, search, "bm25s")


def _best_seconds(fn, repeats: int = 20, warm: int = 3) -> float:
    for _ in range(warm):  # warmed: oneDNN picks and caches its kernel on the first calls
        fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def encoder_shapes(hidden: int = 384, intermediate: int = 1536, tokens: int = 4096) -> list[tuple[int, int, int]]:
    """(M, K, N) of the encoder's own matrix products for a batch of `tokens` tokens: the Q/K/V/output projections
    and the two feed-forward products (all-MiniLM-L6-v2: 384 wide, 1536 inside)."""
    return [(tokens, hidden, hidden), (tokens, hidden, intermediate), (tokens, intermediate, hidden)]


def shape_peak(precision: str, shapes: list[tuple[int, int, int]]) -> float:
    """The best GFLOP/s (GOP/s for int8) of a torch matmul of `precision` over `shapes`, warmed, on every core:
    the roof the encoder's own products face (a 1024² square on one thread both under- and over-states it)."""
    import os

    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    best = 0.0
    for m, k, n in shapes:
        if precision == "int8":
            a, b = (torch.randint(-128, 127, shape, dtype=torch.int8) for shape in ((m, k), (k, n)))
            fn = partial(torch._int_mm, a, b)
        else:
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
            fn = partial(operator.matmul, a, b)
        best = max(best, 2 * m * k * n / _best_seconds(fn) / 1e9)
    return best


def encoder_flops(token_counts: list[int], layers: int, hidden: int, intermediate: int) -> float:
    """Forward FLOPs of a BERT encoder over sequences of these lengths (multiply-add = 2 FLOPs):
    per layer, 2·L·(4h² + 2h·I) for the projections and feed-forward, plus 4·L²·h for attention."""
    return sum(layers * (2 * n * (4 * hidden**2 + 2 * hidden * intermediate) + 4 * n * n * hidden)
               for n in token_counts)


# each path's own matmul peak, on the encoder's own shapes: what its matrix products run in
OWN_PEAK = {"bf16": "a bf16 torch matmul (oneDNN; AMX where present)",
            "int8": "an int8 torch._int_mm (oneDNN; VNNI/AMX-INT8 where present)",
            "fp32": "a float32 torch matmul"}
PEAKS: dict[str, float] = {}  # the best each peak reached in this run: this box's neighbours move it by up to 3×


def best_peak(precision: str, shapes: list[tuple[int, int, int]] | None = None) -> float:
    """Measure the precision's matmul peak on the encoder's shapes again and keep the best of this run (the
    conservative denominator)."""
    PEAKS[precision] = max(PEAKS.get(precision, 0.0), shape_peak(precision, shapes or encoder_shapes()))
    return PEAKS[precision]


def path_precision(path: str) -> str:
    return path.split("-")[1].rstrip("w")  # bf16w: bf16 weights, the same bf16 matmuls


def embedding_efficiency(engine, data: Path, embed_seconds: float) -> dict:
    """Useful FLOPs the embedding stage did (real tokens, no padding) per second, against the float32 matmul peak
    and against the peak of the path's own precision."""
    from transformers import AutoConfig, AutoTokenizer

    path = engine.embedder.encoder["path"]
    config, tokenizer = (cls.from_pretrained(engine.embedder.path) for cls in (AutoConfig, AutoTokenizer))
    texts = engine.store().view(engine.registry.live().id).column("index_text")
    limit = engine.embedder.inner.max_tokens  # what the path truncates at
    counts = [min(len(ids), limit) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    flops = encoder_flops(counts, config.num_hidden_layers, config.hidden_size, config.intermediate_size)
    precision, shapes = path_precision(path), encoder_shapes(config.hidden_size, config.intermediate_size)
    peak, own_peak, own_name = best_peak("fp32", shapes), best_peak(precision, shapes), OWN_PEAK[precision]
    achieved = flops / embed_seconds / 1e9
    found = {"tokens": sum(counts), "gflop": round(flops / 1e9, 1), "achieved_gflops": round(achieved, 1),
             "path": path, "precision": precision, "matmul_gflops": round(peak, 1),
             "share_of_peak": round(achieved / peak, 3), "own_peak_name": own_name, "shapes": shapes,
             "own_peak_gflops": round(own_peak, 1), "share_of_own_peak": round(achieved / own_peak, 3)}
    if achieved > own_peak:  # more than the roof: the peak was mis-measured, and no share of it means anything
        found["failed"] = (f"achieved {achieved:.0f} GFLOP/s above the measured {own_peak:.0f} GFLOP/s peak: a "
                           "failed peak measurement, not reported as a share")
    return found


def ragship_ingest(data: Path, home: Path, cache: Path, embed: dict | None = None):
    """Ingest SciFact into a fresh home (embed settings overridden by `embed`); the engine, ingest figures and the
    embedding efficiency."""
    from ragship.engine import Engine
    from ragship.settings import load_settings

    engine = Engine(load_settings(home=home, cache_dir=cache, **({"embed": embed} if embed else {})))
    t = time.perf_counter()
    engine.embedder.embed_query("warm up")  # model loaded (and the path measured, once per machine) untimed
    warm_s = time.perf_counter() - t
    best_peak(path_precision(engine.embedder.encoder["path"]))  # once before the ingest, once after
    t = time.perf_counter()
    report = engine.ingest([corpus_file(data)])
    ingest_s = time.perf_counter() - t
    ingest = {"path": engine.embedder.encoder["path"], "chosen_by": engine.embedder.encoder["chosen_by"],
              "measured": engine.embedder.encoder["measured"], "warm_up_s": round(warm_s, 1),
              "documents": report.documents, "chunks": report.chunks, "seconds": round(ingest_s, 1),
              "embedded": report.chunks_embedded, "docs_per_s": round(report.documents / ingest_s, 1),
              "chunks_per_s": round(report.chunks / ingest_s, 1),
              "stages_s": {k: round(v, 1) for k, v in report.timings_s.items()}}
    print(json.dumps(ingest), flush=True)
    efficiency = embedding_efficiency(engine, data, report.timings_s["embed"]) \
        if report.chunks_embedded == report.chunks else None
    print(json.dumps({"embedding_efficiency": efficiency}), flush=True)
    return engine, ingest, efficiency


def other_paths(data: Path, tmp: Path, names: list[str]) -> list[dict]:
    """Each named encoder path ingesting SciFact in a fresh home with an empty cache, and its hybrid quality."""
    from ragship.embed.factory import settings_for
    from ragship.evaluate.runner import evaluate
    from ragship.settings import EmbedSettings

    rows = []
    for name in names:
        embed = settings_for(name, EmbedSettings()).model_dump()
        engine, ingest, efficiency = ragship_ingest(data, tmp / name / "home", tmp / name / "cache", embed)
        hybrid = evaluate(engine, data, "test", "hybrid")["metrics"]["ndcg@10"]
        rows.append({**ingest, "efficiency": efficiency, "hybrid_ndcg@10": hybrid, "model": engine.embedder.model_id})
        print(json.dumps({"path": name, "hybrid_ndcg@10": hybrid}), flush=True)
    return rows


def peer_ingest(data: Path) -> list[dict]:
    """LlamaIndex and Haystack ingesting the same documents, each in its own process in .venv-peers."""
    python = ROOT / ".venv-peers" / "bin" / "python"
    if not python.exists():
        raise SystemExit("peers need their venv: run `make peers-venv` (or `make bench`, which does)")
    results = []
    for script in ("ingest_llamaindex.py", "ingest_haystack.py"):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False"}
        out = subprocess.run([str(python), str(ROOT / "benchmarks" / "peers" / script),
                              str(corpus_file(data))], capture_output=True, text=True, env=env,
                             cwd=ROOT / "benchmarks" / "peers")
        if out.returncode != 0:
            raise SystemExit(f"{script} failed: {out.stderr[-3000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    return results


def peak_rss(data: Path, n: int) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ingest_rss.py"),
                          str(corpus_file(data)), str(n)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--peers", action="store_true", help="also time LlamaIndex and Haystack ingestion")
    ap.add_argument("--paths", default="", help="also ingest with each of these encoder paths (comma-separated: "
                    "torch-bf16,torch-fp32,onnx-int8,onnx-fp32) for the per-path table")
    ap.add_argument("--rss-docs", type=int, default=500, help="documents in the 1x memory run (4x is 4 times)")
    args = ap.parse_args()
    if not (args.data / "qrels" / "test.tsv").is_file():
        sys.exit(f"SciFact not found at {args.data}: the benchmark reads ../shared/datasets/scifact")

    from ragship import __version__
    from ragship.evaluate.runner import evaluate

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    header = {"machine": machine(), "commit": commit(), "date": started}
    print(json.dumps(header), flush=True)
    reference = bm25s_reference(args.data)
    print(json.dumps(reference), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        engine, ingest, efficiency = ragship_ingest(args.data, Path(tmp) / "home", args.cache or Path(tmp) / "cache")
        runs = []
        for mode in ("bm25", "dense", "hybrid"):
            runs.append(evaluate(engine, args.data, "test", mode))
            print(json.dumps({k: runs[-1][k] for k in ("mode", "metrics", "latency_ms")}), flush=True)
        settings = engine.settings.model_dump(mode="json", include={"embed", "chunk", "search"})
        model = engine.embedder.model_id
        paths = other_paths(args.data, Path(tmp), [p for p in args.paths.split(",") if p]) if args.paths else []

    peers = peer_ingest(args.data) if args.peers else []
    memory = {"1x": peak_rss(args.data, args.rss_docs), "4x": peak_rss(args.data, 4 * args.rss_docs)}
    print(json.dumps({"peak_rss": memory}), flush=True)

    kept = kept_sections(args.out)
    args.out.write_text(render(header, reference, ingest, runs, settings, model, args.data, __version__,
                               efficiency, memory, peers, paths) + ("\n" + kept if kept else ""))
    print(f"wrote {args.out}")


def render(header, reference, ingest, runs, settings, model, data, version, efficiency, memory, peers,
           paths) -> str:
    def row(name, r):
        m, lat = r["metrics"], r["latency_ms"]
        return (f"| {name} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['recall@100']:.4f} | {m['mrr@10']:.4f} "
                f"| {lat['p50']:.1f} | {lat['p95']:.1f} |")

    throughput = ("not measured (embedding cache reused via --cache)" if ingest["embedded"] < ingest["chunks"]
                  else f"{ingest['docs_per_s']} documents/s, {ingest['chunks_per_s']} chunks/s "
                       f"({ingest['documents']} documents → {ingest['chunks']} chunks in {ingest['seconds']} s; "
                       f"stages: {', '.join(f'{k} {v} s' for k, v in ingest['stages_s'].items())})")
    return "\n".join([
        "# Benchmarks",
        "",
        "Generated by `make bench` (benchmarks/bench_scifact.py); do not edit by hand.",
        "",
        f"- date: {header['date']}",
        f"- commit: {header['commit']} (ragship {version})",
        f"- machine: {header['machine']}",
        f"- data: BEIR SciFact from `{data}`: {ingest['documents']} documents, test split "
        f"({reference['queries']} queries, `qrels/test.tsv`)",
        f"- model: {model}; settings: `{json.dumps(settings)}`",
        "- metrics: pytrec_eval; documents score as their best chunk; latency is one query at a time, "
        "end to end (query embedding included), after one warm-up query",
        "",
        "## Retrieval quality and latency (SciFact test)",
        "",
        "| run | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|",
        row("bm25s reference (Lucene k1 1.5 b 0.75, stemming + stopwords; same process)", reference),
        *(row(f"ragship {r['mode']}", r) for r in runs),
        "",
        "## Ingest throughput",
        "",
        f"Fresh home, empty embedding cache: {throughput}.",
        "",
        f"Encoder path: **{ingest['path']}** ({ingest['chosen_by']}" + (
            f"; {ingest['measured']}" if ingest["measured"] else "") + f"; warm-up {ingest['warm_up_s']} s, untimed).",
        "",
        "Embedding stage efficiency: " + (efficiency_line(efficiency) if efficiency
                                          else "not measured (embedding cache reused)."),
        "",
        *(peer_table(ingest, peers) if peers
          else ["Peers not run (`python benchmarks/bench_scifact.py --peers`).", ""]),
        *(path_table(ingest, efficiency, runs, model, paths, peers) if paths else []),
        "## Memory: peak RSS (VmHWM) of an ingest process, 1× vs 4× the documents",
        "",
        "| corpus | documents | chunks | peak RSS MiB |",
        "|---|---|---|---|",
        *(f"| {k} | {v['documents']} | {v['chunks']} | {v['peak_rss_mib']} |" for k, v in memory.items()),
        "",
        f"4× / 1× = {memory['4x']['peak_rss_mib'] / memory['1x']['peak_rss_mib']:.2f} (issue 3's bar: at most 1.20).",
        "",
    ])


def efficiency_line(e: dict) -> str:
    if e.get("failed"):
        return f"Embedding efficiency on the {e['path']} path not reported: {e['failed']}."
    return (f"{e['achieved_gflops']} GFLOP/s of useful encoder work ({e['tokens']:,} real tokens, {e['gflop']:,} "
            f"GFLOP, padding not counted) on the {e['path']} path = **{e['share_of_own_peak']:.0%} of its own "
            f"matmul peak**, {e['own_peak_name']} on the encoder's own shapes {e['shapes']}, warmed, every core, at "
            f"{e['own_peak_gflops']} GFLOP/s (the best of this run) ({e['share_of_peak']:.0%} of the "
            f"{e['matmul_gflops']} GFLOP/s of a float32 matmul of the same shapes).")


def share(e: dict) -> str:
    """The share of the path's own peak, or why there is none (a failed peak measurement is never printed)."""
    return "— (peak mis-measured)" if e.get("failed") else f"{e['share_of_own_peak']:.0%}" if e else "—"


def path_table(ingest: dict, efficiency: dict | None, runs: list[dict], model: str, paths: list[dict],
               peers: list[dict]) -> list[str]:
    """The same ingest on each encoder path, in this process, against the faster peer of this run."""
    hybrid = next(r for r in runs if r["mode"] == "hybrid")["metrics"]["ndcg@10"]
    rows = [{**ingest, "efficiency": efficiency, "hybrid_ndcg@10": hybrid, "model": model, "default": True}, *paths]
    faster = min(peers, key=lambda p: p["seconds"]) if peers else None

    def line(r):
        e = r["efficiency"] or {}
        ratio = f"{faster['seconds'] / r['seconds']:.2f}×" if faster else "—"
        return (f"| {r['path']}{' (default: auto)' if r.get('default') else ''} | `{r['model'].split('@')[-1]}` | "
                f"{r['seconds']} | {r['docs_per_s']} | {r['stages_s'].get('embed', 0)} | "
                f"{e.get('achieved_gflops', '—')} | {share(e)} | "
                f"{r['hybrid_ndcg@10']:.4f} | {ratio} |")
    return [
        "### The same ingest on each encoder path (fresh home and embedding cache each, same process)",
        "",
        "| path | model id | seconds | documents/s | embed s | GFLOP/s | share of own peak | hybrid nDCG@10 "
        "| vs faster peer (docs/s) |",
        "|---|---|---|---|---|---|---|---|---|",
        *(line(r) for r in rows),
        "",
    ]


def peer_table(ingest: dict, peers: list[dict]) -> list[str]:
    faster = min(peers, key=lambda p: p["seconds"])
    rows = [("ragship (this commit)", ingest["documents"], ingest["chunks"], ingest["seconds"], None)] + \
        [(p["system"], p["documents"], p["chunks"], p["seconds"], p["peak_rss_mib"]) for p in peers]
    return [
        "### Ingest throughput next to the peers (same documents, same model, same machine, one after another)",
        "",
        "| system | documents | chunks | seconds | documents/s | chunks/s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
        *(f"| {name} | {d} | {c} | {sec} | {d / sec:.1f} | {c / sec:.1f} | {rss if rss else '—'} |"
          for name, d, c, sec, rss in rows),
        "",
        f"ragship vs the faster peer: {faster['seconds'] / ingest['seconds']:.2f}× its documents/s "
        f"({ingest['chunks'] / ingest['seconds'] / (faster['chunks'] / faster['seconds']):.2f}× its chunks/s).",
        "",
    ]


if __name__ == "__main__":
    main()

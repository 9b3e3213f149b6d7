"""`make bench-s3`: SciFact with its index on an S3-compatible server (moto's, started here) next to the same
corpus on a local folder: nDCG@10 of both (they must agree to 4 decimals), ingest and query times, promote and
rollback on S3, and a race of concurrent writers (every acknowledged commit must be present). Writes the
"object-store" section of docs/benchmarks.md.

    python benchmarks/bench_object_store.py [../shared/datasets/scifact] [--writers 4] [--commits 10]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ragship.engine import Engine
from ragship.evaluate.runner import evaluate
from ragship.index.store import ChunkStore
from ragship.settings import load_settings
from ragship.testing.bench import commit, corpus_file, machine, write_section

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "scifact"


def start_moto(port: int = 5557) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
                      AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ALLOW_HTTP="true")
    for _ in range(100):
        try:
            httpx.get(os.environ["AWS_ENDPOINT_URL"], timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    import boto3

    boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(Bucket="ragship")
    return proc


def ingest_and_eval(home: Path, cache: Path, corpus: Path, data: Path, **settings) -> tuple[Engine, dict]:
    engine = Engine(load_settings(home=home, cache_dir=cache, **settings))
    t = time.perf_counter()
    report = engine.ingest([corpus])
    ingest_s = time.perf_counter() - t
    run = evaluate(engine, data, "test", "hybrid")
    return engine, {"chunks": report.chunks, "ingest_s": round(ingest_s, 1), "embedded": report.chunks_embedded,
                    "ndcg@10": run["metrics"]["ndcg@10"], "p50_ms": run["latency_ms"]["p50"],
                    "p95_ms": run["latency_ms"]["p95"]}


def _writer(uri: str, writer: int, commits: int, acknowledged) -> None:
    store = ChunkStore(uri)
    for i in range(commits):
        store.add([{"chunk_id": f"w{writer}-{i}", "doc_id": "d", "doc_hash": "h", "source": "s", "title": "t",
                    "text": "x", "index_text": "x", "start": 0, "end": 1, "heading_path": [], "metadata": "{}",
                    "vector": [0.0, 1.0]}], dim=2)
        acknowledged.put(f"w{writer}-{i}")


def race(uri: str, writers: int, commits: int) -> dict:
    ChunkStore(uri).table(dim=2)
    context = multiprocessing.get_context("spawn")
    acknowledged = context.Queue()
    t = time.perf_counter()
    procs = [context.Process(target=_writer, args=(uri, w, commits, acknowledged)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    acked = set()
    while not acknowledged.empty():
        acked.add(acknowledged.get())
    present = set(ChunkStore(uri).table().to_arrow()["chunk_id"].to_pylist())
    return {"writers": writers, "commits_each": commits, "acknowledged": len(acked), "present": len(present),
            "lost": len(acked - present), "seconds": round(time.perf_counter() - t, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, nargs="?", default=DEFAULT_DATA)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--commits", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args()
    corpus = corpus_file(args.data)
    print(json.dumps({"machine": machine(), "commit": commit(), "data": str(corpus)}), flush=True)
    moto = start_moto()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp) / "cache"  # shared: the second ingest reuses the first one's embeddings
            _, local = ingest_and_eval(Path(tmp) / "local", cache, corpus, args.data)
            print(json.dumps({"index": "local", **local}), flush=True)
            on_s3, s3 = ingest_and_eval(Path(tmp) / "s3", cache, corpus, args.data,
                                        index={"uri": "s3://ragship/scifact"})
            print(json.dumps({"index": "s3", **s3}), flush=True)
            releases = release_cycle(on_s3, corpus, Path(tmp))
            print(json.dumps(releases), flush=True)
        raced = race("s3://ragship/race", args.writers, args.commits)
        print(json.dumps({"race": raced}), flush=True)
    finally:
        moto.terminate()
    write_section(args.out, "object-store", render(local, s3, releases, raced, corpus))
    print(f"wrote the object-store section of {args.out}")
    if round(local["ndcg@10"], 4) != round(s3["ndcg@10"], 4) or raced["lost"] or not releases["ok"]:
        sys.exit(1)


def release_cycle(engine: Engine, corpus: Path, tmp: Path) -> dict:
    """v2 on S3 (one more document), rolled back to v1, promoted again: the live pointer follows each step."""
    extra = tmp / "extra.txt"
    extra.write_text("Ferries to the island leave from pier 4 every hour.\n")
    engine.ingest([corpus, extra])
    steps = [engine.registry.live().id]
    t = time.perf_counter()
    engine.releases().rollback()
    rollback_ms = round((time.perf_counter() - t) * 1000, 1)
    steps.append(engine.registry.live().id)
    engine.releases().promote(steps[0], force=True)  # the bench configures no golden sets: no gate
    steps.append(engine.registry.live().id)
    return {"live_after_each_step": steps, "rollback_ms": rollback_ms, "ok": steps == ["v2", "v1", "v2"]}


def render(local: dict, s3: dict, releases: dict, raced: dict, corpus: Path) -> str:
    return "\n".join([
        "## The index on an S3-compatible server (`make bench-s3`)",
        "",
        f"- {machine()}, commit {commit()}; data `{corpus}` (test split); moto's S3 server on 127.0.0.1 (it honours "
        "conditional PUT, which Lance's commits rely on); the S3 run reuses the local run's embedding cache, so "
        "its ingest time is chunking + writing, not embedding",
        "",
        "| index | chunks | ingest s | chunks embedded | nDCG@10 | hybrid p50 / p95 ms |",
        "|---|---|---|---|---|---|",
        f"| local folder | {local['chunks']} | {local['ingest_s']} | {local['embedded']} | {local['ndcg@10']:.4f} | "
        f"{local['p50_ms']} / {local['p95_ms']} |",
        f"| s3://ragship/scifact | {s3['chunks']} | {s3['ingest_s']} | {s3['embedded']} | {s3['ndcg@10']:.4f} | "
        f"{s3['p50_ms']} / {s3['p95_ms']} |",
        "",
        f"- releases on S3: ingest of one more document, rollback, promote: live "
        f"{' → '.join(releases['live_after_each_step'])}; the rollback took {releases['rollback_ms']} ms",
        f"- race: {raced['writers']} processes × {raced['commits_each']} commits to one table on S3: "
        f"{raced['acknowledged']} acknowledged, {raced['present']} present, **{raced['lost']} lost** "
        f"({raced['seconds']} s)",
    ])


if __name__ == "__main__":
    main()

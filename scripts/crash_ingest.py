"""Crash test: `kill -9` an ingest at random moments across successive runs, re-run each time, and check that the
final index equals a clean run's (same document and chunk ids, no duplicates, no document lost).

    python scripts/crash_ingest.py [--docs 2000] [--kills 20] [--seed 1] [--work DIR] [--corpus PATH]

Reads the first N documents of ../shared/datasets/scifact (or of the BEIR corpus `--corpus` names). Each run starts
a real `ragship ingest` subprocess with small write batches (frequent checkpoints) and a fresh embedding cache, so
kills land in parsing, embedding, writing, indexing and committing alike. Prints one JSON line per run and a summary;
exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ragship.testing import cli, cli_process, engine_for, env_for

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl.gz"


def write_corpus(source: Path, n: int, dest: Path) -> Path:
    with (gzip.open(source, "rt") if source.suffix == ".gz" else open(source)) as f, open(dest, "w") as out:
        for line in itertools.islice(f, n):
            out.write(line)
    return dest


def ingest_env(home: Path, cache: Path, batch: int) -> dict[str, str]:
    return env_for(home, cache_dir=cache, RAGSHIP_INGEST__WRITE_BATCH=str(batch))


def index_ids(home: Path) -> list[tuple[str, str]]:
    engine = engine_for(env_for(home))
    return engine.store().view(engine.registry.live().id).chunk_ids()


def crash_runs(home, corpus, cache, kills, rng, batch, max_delay) -> list[dict]:
    runs, killed = [], 0
    while killed < kills:
        proc = cli_process(ingest_env(home, cache, batch), "ingest", str(corpus), "--json", stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        delay = rng.uniform(0.5, max_delay)
        try:
            out, _ = proc.communicate(timeout=delay)
            report = json.loads(out)
            runs.append({"run": len(runs) + 1, "outcome": "completed", "after_s": round(delay, 2),
                         "version": report["version"], "resumed": report["resumed"]})
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL: no cleanup handlers run
            proc.wait()
            killed += 1
            runs.append({"run": len(runs) + 1, "outcome": "killed -9", "after_s": round(delay, 2)})
        print(json.dumps(runs[-1]), flush=True)
    final = cli(ingest_env(home, cache, batch), "ingest", str(corpus), "--json", check=False)
    if final.returncode != 0:
        raise SystemExit(f"final run failed ({final.returncode}): {final.stderr[-2000:]}")
    report = json.loads(final.stdout)
    runs.append({"run": len(runs) + 1, "outcome": "final", "version": report["version"],
                 "resumed": report["resumed"], "already_written": report["already_written"],
                 "documents": report["documents"], "chunks": report["chunks"]})
    print(json.dumps(runs[-1]), flush=True)
    return runs


def compare(crashed: list[tuple[str, str]], clean: list[tuple[str, str]], n_docs: int) -> dict:
    crash_chunks, clean_chunks = [c for c, _ in crashed], [c for c, _ in clean]
    crash_docs, clean_docs = {d for _, d in crashed}, {d for _, d in clean}
    return {
        "documents_expected": n_docs,
        "documents_clean": len(clean_docs),
        "documents_after_crashes": len(crash_docs),
        "documents_lost": len(clean_docs - crash_docs),
        "documents_extra": len(crash_docs - clean_docs),
        "chunks_clean": len(clean_chunks),
        "chunks_after_crashes": len(crash_chunks),
        "duplicate_chunks": len(crash_chunks) - len(set(crash_chunks)),
        "same_chunk_ids": set(crash_chunks) == set(clean_chunks),
        "same_document_ids": crash_docs == clean_docs,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64, help="documents per write batch (checkpoint)")
    ap.add_argument("--max-delay", type=float, default=12.0, help="latest kill, seconds after a run starts")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--corpus", type=Path, default=SCIFACT, help="a BEIR corpus.jsonl(.gz) (default: SciFact's)")
    args = ap.parse_args(argv)
    if not args.corpus.is_file():
        raise SystemExit(f"{args.corpus} not found: the crash test reads SciFact from ../shared/datasets")
    work = args.work or Path(tempfile.mkdtemp(prefix="ragship-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = write_corpus(args.corpus, args.docs, work / "corpus.jsonl")
    rng = random.Random(args.seed)
    started = time.time()
    runs = crash_runs(work / "crash-home", corpus, work / "crash-cache", args.kills, rng, args.batch,
                      args.max_delay)
    clean = cli(ingest_env(work / "clean-home", work / "crash-cache", 512), "ingest", str(corpus), "--json",
                check=False)
    if clean.returncode != 0:
        raise SystemExit(f"clean run failed: {clean.stderr[-2000:]}")
    result = compare(index_ids(work / "crash-home"), index_ids(work / "clean-home"), args.docs)
    result.update({"kills": sum(r["outcome"] == "killed -9" for r in runs), "runs": len(runs),
                   "seconds": round(time.time() - started, 1), "work": str(work)})
    result["ok"] = (result["same_chunk_ids"] and result["same_document_ids"] and result["duplicate_chunks"] == 0
                    and result["documents_lost"] == 0 and result["documents_after_crashes"] == args.docs)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)

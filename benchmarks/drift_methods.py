"""Query-drift tests compared on real query embeddings (SciFact's 1,109 claims and CLAP NQ dev's 294 questions,
encoded as the server encodes queries): MMD with a permutation p-value (ragship's default)
against a domain classifier (logistic regression, 5-fold cross-validated ROC AUC). For each share of CLAP NQ
questions mixed into a 100-query recent window (20 random draws each), against a 300-claim reference: how often
each method detects the shift at a false-alarm level fixed on the no-shift draws (MMD: p < 0.001; classifier:
AUC above the highest AUC of the no-shift draws).

    python benchmarks/drift_methods.py [--draws 20] [--shares 0,5,10,15,20,30]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ragship.evaluate.beir import read_queries

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


def texts(path: Path) -> list[str]:
    return list(read_queries(path).values())


def load() -> tuple[np.ndarray, np.ndarray]:
    import tempfile

    from ragship.embed.factory import make_embedder
    from ragship.settings import EmbedSettings

    embedder = make_embedder(EmbedSettings(), Path(tempfile.mkdtemp()))
    science = texts(DATASETS / "scifact" / "queries.jsonl")
    trivia = texts(DATASETS / "clapnq-dev" / "queries.jsonl") + texts(DATASETS / "clapnq-dev" /
                                                                    "queries_unanswerable.jsonl")
    return (np.array([embedder.embed_query(t) for t in science]),
            np.array([embedder.embed_query(t) for t in trivia]))


def classifier_auc(x: np.ndarray, y: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    data, labels = np.vstack([x, y]), np.r_[np.zeros(len(x)), np.ones(len(y))]
    return float(cross_val_score(LogisticRegression(max_iter=1000, C=1.0), data, labels, cv=5,
                                 scoring="roc_auc").mean())


def main() -> None:
    import argparse

    from ragship.monitor.drift import mmd_test

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=20, help="random draws per share")
    ap.add_argument("--shares", default="0,5,10,15,20,30", help="CLAP NQ questions in the recent 100 (0 first)")
    a = ap.parse_args()
    n = a.draws

    science, trivia = load()
    print(json.dumps({"science_queries": len(science), "clap_queries": len(trivia)}))
    rng = np.random.default_rng(0)
    results = {}
    for m in map(int, a.shares.split(",")):
        mmd_p, aucs, spent = [], [], {"mmd": 0.0, "classifier": 0.0}
        for _ in range(n):
            pick = rng.permutation(len(science))
            ref, recent = science[pick[:300]], np.vstack([science[pick[300:400 - m]],
                                                          trivia[rng.permutation(len(trivia))[:m]]])
            t = time.perf_counter()
            mmd_p.append(mmd_test(ref, recent, 2000, seed=int(rng.integers(1 << 30)))[1])
            spent["mmd"] += time.perf_counter() - t
            t = time.perf_counter()
            aucs.append(classifier_auc(ref, recent))
            spent["classifier"] += time.perf_counter() - t
        results[m] = {"mmd_p": mmd_p, "auc": aucs, "ms_per_test": {k: round(v / n * 1000) for k, v in spent.items()}}
    auc_bar = max(results[0]["auc"])
    print(f"| CLAP NQ in the recent 100 | MMD p<0.001 detects | classifier AUC>{auc_bar:.3f} detects | "
          "ms per test (MMD / classifier) |")
    print("|---|---|---|---|")
    for m, r in results.items():
        print(f"| {m} | {sum(p < 0.001 for p in r['mmd_p'])}/{n} | {sum(a > auc_bar for a in r['auc'])}/{n} | "
              f"{r['ms_per_test']['mmd']} / {r['ms_per_test']['classifier']} |")


if __name__ == "__main__":
    main()

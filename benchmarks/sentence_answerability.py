"""Issue 35's last unmeasured option: sentence-level answerability (ADR 0014, "Where it stands"). The QA model
reads the best-supported sentences of a question's evidence (the best one; the best two joined, as its second
training pass's NQ-style passages are two answer sentences; each of the best three) instead of whole chunks; those
answerabilities join the calibration features. On CLAP NQ dev (calibration and evaluation only), out of fold over
20 splits, against the same features without them.

    python benchmarks/sentence_answerability.py READER_DIR [--extra ../shared/datasets/clapnq-train] [--data DIR]

READER_DIR: a QA model (`ragship adapt ../shared/datasets/squad2-dev-half --qa-model --extra
../shared/datasets/clapnq-train`, 36-45 min on 2 cores). --extra adds the question prior to every feature set.
Measured in session 25 (ADR 0014): no gain over the retrieval features, so the answerer reads whole chunks only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

import numpy as np

from ragship.testing.bench import commit

ROOT = Path(__file__).resolve().parents[1]
CLAP = ROOT.parent / "shared" / "datasets" / "clapnq-dev"

SENTENCE_FEATURES = ("sent_best1", "sent_best2", "sent_max3", "sent_margin2")
SPLITS = 20


def sentence_features(qa_model, question: str, found) -> dict[str, float]:
    """The QA model's answerability of the best-supported sentence, of the best two joined, the most of the best
    three each, and the best two's span margin."""
    ranked = sorted(found.sentences, key=lambda s: -s.support)[:3]
    best = [found.hits[s.hit].text[s.start:s.end] for s in ranked]
    if not best:
        return dict.fromkeys(SENTENCE_FEATURES, -10.0)
    one, two = qa_model.read(question, best[:1])[0], qa_model.read(question, [" ".join(best[:2])])[0]
    each = qa_model.read(question, best)
    return {"sent_best1": one.answerability, "sent_best2": two.answerability,
            "sent_max3": max(r.answerability for r in each), "sent_margin2": two.margin}


def oof(rows: list[dict], y: np.ndarray, names: list[str], seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray([[r[f] for f in names] for r in rows])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    return cross_val_predict(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                             method="predict_proba")[:, 1]


def summary(rows: list[dict], y: np.ndarray, names: list[str]) -> str:
    """Mean ± sd over SPLITS fold splits: OOF AUC, the best balanced point, abstained at `answer >= 0.9`."""
    from sklearn.metrics import roc_auc_score

    from ragship.answer.calibrate import choose_threshold, rates
    from ragship.types import AbstainTarget

    auc, balanced, abstained = [], [], []
    for seed in range(SPLITS):
        p = oof(rows, y, names, seed)
        auc.append(roc_auc_score(y, p))
        best = max((rates(p, y, t) for t in np.unique(p)), key=lambda r: min(r["answer_rate"], r["abstain_rate"]))
        balanced.append(min(best["answer_rate"], best["abstain_rate"]))
        abstained.append(rates(p, y, choose_threshold(p, y, AbstainTarget("answer", 0.9)))["abstain_rate"])
    return ", ".join(f"{name} {statistics.mean(v):.4f} ± {statistics.stdev(v):.4f}" for name, v in
                     (("AUC", auc), ("balanced", balanced), ("abstained at answer >= 0.9", abstained)))


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from ragship.answer.calibrate import FEATURES, QA_FEATURES
    from ragship.engine import Engine
    from ragship.evaluate.answers import load_questions
    from ragship.evaluate.beir import load_dataset
    from ragship.evaluate.runner import question_prior
    from ragship.settings import load_settings

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("reader", help="the QA model's folder")
    ap.add_argument("--extra", type=Path, help="NQ-style training questions for the question prior")
    ap.add_argument("--data", type=Path, default=CLAP, help="the labeled questions and their corpus (clapnq-dev's "
                    "layout)")
    args = ap.parse_args()
    engine = Engine(load_settings(home=Path(tempfile.mkdtemp(prefix="sentences-")), answer={"qa_model": args.reader}))
    dataset = load_dataset(args.data, "test")
    engine.ingest([dataset.corpus])
    questions, answerer = load_questions(dataset), engine.answerer()
    rows = []
    for q in questions:
        found = answerer.assess(q.text, engine.context(q.text))
        rows.append(found.features | sentence_features(answerer.qa_model, q.text, found))
    y = np.array([int(q.answerable) for q in questions])
    prior = []
    if args.extra:
        model, prior = question_prior(engine.embedder, args.extra), ["question_prior"]
        for row, q in zip(rows, questions):
            row["question_prior"] = model.logit(engine.embedder.embed_query(q.text))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; commit {commit(ROOT)}; data: "
          f"{args.data} ({int(y.sum())} answerable, {int(len(y) - y.sum())} unanswerable); reader {args.reader}")
    for f in (*SENTENCE_FEATURES, "reader_best", "reader_first"):
        print(f"{f} alone: AUC {roc_auc_score(y, [r[f] for r in rows]):.3f}")
    for name, names in (("without the QA model", []), ("+ chunks read", list(QA_FEATURES)),
                        ("+ sentences read", list(SENTENCE_FEATURES)),
                        ("+ both", list(QA_FEATURES) + list(SENTENCE_FEATURES))):
        print(f"{name}{' (+ question prior)' if prior else ''}: {summary(rows, y, list(FEATURES) + names + prior)}",
              flush=True)


if __name__ == "__main__":
    main()

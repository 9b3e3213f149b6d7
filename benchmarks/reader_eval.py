"""What a reader adds to answers on CLAP NQ dev (calibration and evaluation only; never trained on):

1. the calibration's out-of-fold ROC AUC and rates (answered answerable / abstained unanswerable, at the
   abstention precision `ragship calibrate` targets, and at the best balanced threshold) for the features without
   a reader, the reader's alone, and both;
2. `ragship calibrate` then `ragship eval` with the reader (answer rate, abstain rate, citation precision, F1),
   with the extractive answer quoting the sentence of the reader's span (answer.qa_quotes) and without;
3. `ragship ask` latency over the questions with and without the reader.

    python benchmarks/reader_eval.py READER_DIR
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLAP = ROOT.parent / "shared" / "datasets" / "clapnq-dev"


def oof(rows: list[dict], y: np.ndarray, names: list[str]) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray([[r[f] for f in names] for r in rows])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    return cross_val_predict(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                             method="predict_proba")[:, 1]


def table(rows: list[dict], y: np.ndarray) -> list[str]:
    from sklearn.metrics import roc_auc_score

    from ragship.answer.calibrate import FEATURES, QA_FEATURES, choose_threshold, rates
    from ragship.types import AbstainTarget

    out = ["| features | OOF AUC | answered / abstained at 0.85 abstention precision | best balanced point |",
           "|---|---|---|---|"]
    for name, names in (("without reader", list(FEATURES)), ("reader alone", list(QA_FEATURES)),
                        ("both", list(FEATURES) + list(QA_FEATURES))):
        p = oof(rows, y, names)
        at = rates(p, y, choose_threshold(p, y, AbstainTarget("precision", 0.85)))
        balanced = max((rates(p, y, t) for t in np.unique(p)), key=lambda r: min(r["answer_rate"], r["abstain_rate"]))
        out.append(f"| {name} | {roc_auc_score(y, p):.3f} | {at['answer_rate']:.3f} / {at['abstain_rate']:.3f} | "
                   f"{balanced['answer_rate']:.3f} / {balanced['abstain_rate']:.3f} |")
    return out


def latencies(engine, questions: list[str]) -> dict:
    from ragship.util.stats import latency_summary

    engine.ask(questions[0])
    ms = []
    for q in questions:
        t = time.perf_counter()
        engine.ask(q)
        ms.append((time.perf_counter() - t) * 1000)
    return {k: v for k, v in latency_summary(ms, digits=1).items() if k in ("p50", "p95")}


def main() -> None:
    from ragship.engine import Engine
    from ragship.evaluate.answers import load_questions
    from ragship.evaluate.beir import load_dataset
    from ragship.evaluate.runner import calibrate, evaluate
    from ragship.settings import load_settings

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("reader", help="the reader's folder (`ragship adapt DATA --qa-model` wrote it)")
    reader = ap.parse_args().reader
    home = Path(tempfile.mkdtemp(prefix="reader-eval-"))
    plain = Engine(load_settings(home=home))
    with_reader = Engine(load_settings(home=home, answer={"qa_model": reader}))
    dataset = load_dataset(CLAP, "test")
    with_reader.ingest([dataset.corpus])
    questions = load_questions(dataset)
    answerer = with_reader.answerer()
    rows = [answerer.assess(q.text, with_reader.context(q.text)).features for q in questions]
    y = np.array([int(q.answerable) for q in questions])
    print(f"CLAP NQ dev: {int(y.sum())} answerable, {int(len(y) - y.sum())} unanswerable; reader {reader}")
    print("\n".join(table(rows, y)))
    texts = [q.text for q in questions]
    print(json.dumps({"ask_ms_without_reader": latencies(plain, texts),
                      "ask_ms_with_reader": latencies(with_reader, texts)}))
    fitted = calibrate(with_reader, CLAP, "test")
    print(json.dumps({"calibration": fitted.validation | {"features": fitted.features}}, default=str)[:1500])
    for quotes in (True, False):  # the extractive answer quoting the reader's span's sentence, or not
        result = evaluate(Engine(load_settings(home=home, answer={"qa_model": reader, "qa_quotes": quotes})),
                          CLAP, "test")
        print(json.dumps({"reader_quotes": quotes, "eval": result["metrics"]}))


if __name__ == "__main__":
    main()

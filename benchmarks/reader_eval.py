"""What a reader adds to answers on CLAP NQ dev (calibration and evaluation only; never trained on):

1. the calibration's out-of-fold ROC AUC and rates (answered answerable / abstained unanswerable, at the
   abstention precision 0.85, at the default operating point `answer >= 0.9`, and at the best balanced
   threshold) for the features without a reader, the reader's alone, both, and each with the question prior
   (`ragship calibrate --questions`: a logistic regression on the embedding model's query vectors of NQ-style
   training questions, `--extra`, answerable or not from the question alone; never fitted on CLAP NQ dev);
2. `ragship calibrate` (`--questions` the `--extra` folder) then `ragship eval` with the reader (answer rate,
   abstain rate, citation precision, F1), the extractive answer quoting the sentence of the reader's span
   (answer.qa_quotes) and not;
3. `ragship ask` latency over the questions without the reader, with it, and with it and the question prior.

    python benchmarks/reader_eval.py READER_DIR [--extra ../shared/datasets/clapnq-train] [--write] [--data DIR]

--write puts the table, the latencies and the training report's figures in docs/benchmarks.md (section `reader`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from ragship.testing.bench import commit

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

    out = ["| features | OOF AUC | answered / abstained at 0.85 abstention precision | at `answer >= 0.9` | "
           "best balanced point |", "|---|---|---|---|---|"]
    sets = [("without reader", list(FEATURES)), ("reader alone", list(QA_FEATURES)),
            ("both", list(FEATURES) + list(QA_FEATURES))]
    if "question_prior" in rows[0]:
        sets += [("question prior alone", ["question_prior"]),
                 ("without reader + question prior", list(FEATURES) + ["question_prior"]),
                 ("both + question prior", list(FEATURES) + list(QA_FEATURES) + ["question_prior"])]
    for name, names in sets:
        p = oof(rows, y, names)
        cells = [rates(p, y, choose_threshold(p, y, AbstainTarget(*target)))
                 for target in (("precision", 0.85), ("answer", 0.9))]
        cells.append(max((rates(p, y, t) for t in np.unique(p)),
                         key=lambda r: min(r["answer_rate"], r["abstain_rate"])))
        out.append(f"| {name} | {roc_auc_score(y, p):.3f} | "
                   + " | ".join(f"{c['answer_rate']:.3f} / {c['abstain_rate']:.3f}" for c in cells) + " |")
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
    from ragship.evaluate.runner import calibrate, evaluate, question_prior
    from ragship.settings import load_settings

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("reader", help="the reader's folder (`ragship adapt DATA --qa-model` wrote it)")
    ap.add_argument("--extra", type=Path, help="NQ-style training questions for the question prior")
    ap.add_argument("--write", action="store_true", help="write the results to docs/benchmarks.md")
    ap.add_argument("--data", type=Path, default=CLAP, help="the labeled questions and their corpus (clapnq-dev's "
                    "layout)")
    args = ap.parse_args()
    reader = args.reader
    home = Path(tempfile.mkdtemp(prefix="reader-eval-"))
    plain = Engine(load_settings(home=home))
    with_reader = Engine(load_settings(home=home, answer={"qa_model": reader}))
    dataset = load_dataset(args.data, "test")
    with_reader.ingest([dataset.corpus])
    questions = load_questions(dataset)
    answerer = with_reader.answerer()
    rows = [answerer.assess(q.text, with_reader.context(q.text)).features for q in questions]
    y = np.array([int(q.answerable) for q in questions])
    if args.extra:  # the question prior as `ragship calibrate --questions` fits and computes it
        prior = question_prior(with_reader.embedder, args.extra)
        for row, q in zip(rows, questions):
            row["question_prior"] = prior.logit(with_reader.embedder.embed_query(q.text))
    lines = [f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; commit {commit(ROOT)}; "
             f"data: {args.data} ({int(y.sum())} answerable, {int(len(y) - y.sum())} unanswerable); reader {reader}",
             "", *table(rows, y), ""]
    texts = [q.text for q in questions]
    lines.append(json.dumps({"ask_ms_without_reader": latencies(plain, texts),
                             "ask_ms_with_reader": latencies(with_reader, texts)}))
    fitted = calibrate(with_reader, args.data, "test", prior_questions=args.extra)
    lines.append(json.dumps({"calibration": fitted.validation | {"features": fitted.features}}, default=str)[:1500])
    if args.extra:
        lines.append(json.dumps({"ask_ms_with_reader_and_question_prior": latencies(with_reader, texts)}))
    for quotes in (True, False):  # the extractive answer quoting the reader's span's sentence, or not
        result = evaluate(Engine(load_settings(home=home, answer={"qa_model": reader, "qa_quotes": quotes})),
                          args.data, "test")
        lines.append(json.dumps({"reader_quotes": quotes, "eval": result["metrics"]}))
    trained = Path(reader) / "ragship-reader.json"
    if trained.exists():
        lines.append(json.dumps({"training": json.loads(trained.read_text())["training"]}))
    print("\n".join(lines))
    if args.write:
        from ragship.testing.bench import write_section

        body = "\n\n".join(["## The QA model on CLAP NQ dev (benchmarks/reader_eval.py)", "\n".join(lines)])
        write_section(ROOT / "docs" / "benchmarks.md", "reader", body)


if __name__ == "__main__":
    main()

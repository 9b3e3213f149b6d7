"""`ragship eval`: make sure the dataset's corpus is in the index (incrementally), run every judged query one at
a time as a user would, and report quality and latency."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from ragship import __version__
from ragship.answer import Answer, Answerer
from ragship.answer.calibrate import PRIOR_FEATURE, Calibration, CalibrationStore, QuestionPrior, fit, fit_prior
from ragship.embed.base import Embedder
from ragship.evaluate.answers import answer_metrics, has_answers, load_questions
from ragship.evaluate.beir import Dataset, load_dataset
from ragship.evaluate.labeled_questions import load_questions as load_labeled_questions
from ragship.evaluate.metrics import doc_run, retrieval_metrics
from ragship.ingest.build import IngestReport, Observer
from ragship.retrieve.search import Searcher, SearchResult
from ragship.settings import Settings
from ragship.types import AbstainTarget, Hit
from ragship.util.clock import now
from ragship.util.stats import latency_summary

EVAL_DEPTH = 100  # documents per query: enough for Recall@100


class Searchable(Protocol):
    """A collection that can take a dataset's corpus and search it: what every quality operation needs (the
    Engine is one). Each operation's own Protocol adds what else it uses."""

    settings: Settings

    def ingest(self, paths: list[Path], observe: Observer | None = None) -> IngestReport: ...

    def release(self, report: IngestReport) -> IngestReport: ...

    def searcher(self) -> Searcher: ...


class Evaluated(Searchable, Protocol):
    """What `evaluate` and `calibrate` use."""

    calibrations: CalibrationStore

    @property
    def embedder(self) -> Embedder: ...

    def context(self, question: str, mode: str | None = None) -> SearchResult: ...

    def answerer(self) -> Answerer: ...

    def ask(self, question: str, mode: str | None = None) -> Answer: ...

    def calibration(self) -> Calibration | None: ...

    def at_version(self, version_id: str) -> Evaluated: ...


def run_retrieval(dataset: Dataset, search: Callable[[str], list[Hit]], mode: str) -> dict[str, Any]:
    """Run every judged query through `search` (which returns chunk hits) and score the document ranking."""
    queries = list(dataset.queries.items())
    if queries:
        search(queries[0][1])  # warm-up (model load, caches); not timed
    run, latencies = {}, []
    for qid, text in queries:
        t = time.perf_counter()
        hits = search(text)
        latencies.append((time.perf_counter() - t) * 1000)
        run[qid] = doc_run(hits, EVAL_DEPTH)
    return {
        "dataset": dataset.name,
        "split": dataset.split,
        "mode": mode,
        "queries": len(queries),
        "metrics": {k: round(v, 4) for k, v in retrieval_metrics(run, dataset.qrels).items()},
        "latency_ms": {k: v for k, v in latency_summary(latencies).items() if k != "p99"},
    }


def evaluate(engine: Evaluated, dataset_dir: Path, split: str = "test", mode: str | None = None,
             k: int | None = None, observe=None) -> dict[str, Any]:
    dataset = load_dataset(dataset_dir, split)
    report = engine.release(engine.ingest([dataset.corpus_file], observe=observe))
    assert report.version is not None  # an ingest that finds documents leaves a version
    engine = engine.at_version(report.version)  # the version just built, live or a candidate
    mode = mode or engine.settings.search.mode
    # chunks per query: enough to fill EVAL_DEPTH documents even when documents have several chunks
    depth = k or max(EVAL_DEPTH * 3, engine.settings.search.candidates)
    searcher = engine.searcher()
    result = run_retrieval(dataset, lambda q: searcher.search(q, mode, depth).hits, mode)
    if has_answers(dataset.root):
        questions = load_questions(dataset)
        result["metrics"].update(answer_metrics(questions, lambda q: engine.ask(q, mode).to_dict()))
        calibration = engine.calibration()
        result["answers"] = {"questions": len(questions), "generator": engine.settings.answer.generator,
                             "calibration": calibration.fitted_on if calibration else None}
    result.update({
        "index_version": report.version,
        "documents": report.documents,
        "chunks": report.chunks,
        "model": searcher.embedder.model_id,
        "settings": engine.settings.model_dump(mode="json", include={"chunk", "search"}),
        "ragship": __version__,
        "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
        "date": now(),
    })
    return result


def calibrate(engine: Evaluated, dataset_dir: Path, split: str = "test", target: AbstainTarget | None = None,
              observe=None, prior_questions: Path | None = None) -> Calibration:
    """Fit the answer-confidence model on the dataset's answerable and unanswerable questions, its threshold for
    `target` (default `answer.abstain_target`), and store it with the live index version (which then holds the
    dataset's corpus). `prior_questions`: a folder of questions labeled answerable or not
    (evaluate/labeled_questions.py) to fit a question prior on, one more feature of the model."""
    dataset = load_dataset(dataset_dir, split)
    prior = question_prior(engine.embedder, prior_questions) if prior_questions else None
    report = engine.release(engine.ingest([dataset.corpus_file], observe=observe))
    assert report.version is not None  # an ingest that finds documents leaves a version
    engine = engine.at_version(report.version)
    questions = load_questions(dataset)
    answerer = engine.answerer()
    rows = [answerer.assess(q.text, engine.context(q.text)).features for q in questions]
    for row, q in zip(rows, questions):  # the prior of the calibration in force, if any, is replaced or dropped
        row.pop(PRIOR_FEATURE, None)
        if prior:
            row[PRIOR_FEATURE] = prior.logit(answerer.embedder.embed_query(q.text))
    labels = [int(q.answerable) for q in questions]
    calibration = fit(rows, labels, target or AbstainTarget.parse(engine.settings.answer.abstain_target))
    calibration.prior = prior
    calibration.fitted_on = {
        "dataset": dataset.name, "split": split, "answerable": sum(labels), "unanswerable": len(labels) - sum(labels),
        "version": report.version, "model": answerer.embedder.model_id,
        "qa_model": getattr(answerer.qa_model, "path", None), "features": calibration.features,
        "date": now(),
    }
    engine.calibrations.save(calibration, report.version)
    return calibration


def question_prior(embedder, folder: Path) -> QuestionPrior:
    """A question prior (answer/calibrate.py) fitted on `folder`'s questions, encoded as queries are."""
    answerable, unanswerable = load_labeled_questions(folder)
    vectors = np.stack([embedder.embed_query(q["question"]) for q in answerable + unanswerable])
    return fit_prior(vectors, [1] * len(answerable) + [0] * len(unanswerable), embedder.model_id, str(folder))


def markdown_report(result: dict[str, Any]) -> str:
    m, lat = result["metrics"], result["latency_ms"]
    lines = [
        f"# ragship evaluation: {result['dataset']} ({result['split']})",
        "",
        f"- date: {result.get('date')}, machine: {result.get('machine')}",
        f"- index version: {result.get('index_version')} ({result.get('documents')} documents, "
        f"{result.get('chunks')} chunks), model: {result.get('model')}",
        f"- mode: {result['mode']}, queries: {result['queries']}",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {name} | {value:.4f} |" for name, value in m.items()),
        f"| latency p50 (ms) | {lat['p50']:.1f} |",
        f"| latency p95 (ms) | {lat['p95']:.1f} |",
        "",
    ]
    return "\n".join(lines)

"""Per-query figures of two index versions on one golden set, measured side by side: each query is run on the
live version and on the candidate one after the other, so load on the machine falls on both alike."""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np

from ragship.answer.calibrate import choose_threshold
from ragship.evaluate.answers import citation_correct, has_answers, load_questions
from ragship.evaluate.beir import load_dataset
from ragship.evaluate.metrics import doc_run, per_query
from ragship.evaluate.runner import EVAL_DEPTH
from ragship.retrieve.search import Searcher
from ragship.settings import GoldenSet
from ragship.types import AbstainTarget

PerQuery = dict[str, dict[str, float]]  # metric -> {query id: value}


class Version(Protocol):
    """One index version, searchable and answerable (an Engine pinned to it)."""

    def searcher(self) -> Searcher: ...

    def ask(self, question: str, mode: str | None = None) -> Any: ...

    def calibration(self) -> Any: ...  # the answer calibration in force for it (None: uncalibrated)


def measure(sides: dict[str, Version], golden: GoldenSet) -> dict[str, PerQuery]:
    """{side: {metric: {qid: value}}} for nDCG@10, Recall@100, latency (ms) and, with gold answers, answer rate
    (answerable questions answered), abstain rate (unanswerable abstained) and citation precision."""
    dataset = load_dataset(golden.path, golden.split, corpus=False)
    searchers = {side: v.searcher() for side, v in sides.items()}
    depth = EVAL_DEPTH * 3
    first = next(iter(dataset.queries.values()), "")
    for s in searchers.values():
        s.search(first, None, depth)  # warm-up: model load, index pages
    runs: dict[str, dict] = {side: {} for side in sides}
    out: dict[str, PerQuery] = {side: {"latency_ms": {}} for side in sides}
    for qid, text in dataset.queries.items():
        for side, searcher in searchers.items():
            t = time.perf_counter()
            hits = searcher.search(text, None, depth).hits
            out[side]["latency_ms"][qid] = (time.perf_counter() - t) * 1000
            runs[side][qid] = doc_run(hits, EVAL_DEPTH)
    for side in sides:
        judged = per_query(runs[side], dataset.qrels)
        for metric in ("ndcg@10", "recall@100"):
            out[side][metric] = {q: j[metric] for q, j in judged.items()}
    if has_answers(dataset.root):
        questions = load_questions(dataset)
        for side, version in sides.items():
            out[side] |= _answers(version, questions)
    return out


def _answers(version: Version, questions) -> PerQuery:
    rates: PerQuery = {"answer_rate": {}, "abstain_rate": {}, "citation_precision": {}, "confidence": {}}
    for q in questions:
        a = version.ask(q.text).to_dict()
        rates["confidence"][q.id] = float(a["confidence"] or 0.0)
        if not q.answerable:
            rates["abstain_rate"][q.id] = float(a["abstained"])
            continue
        rates["answer_rate"][q.id] = float(not a["abstained"])
        if not a["abstained"] and a["citations"]:
            rates["citation_precision"][q.id] = sum(citation_correct(c, q) for c in a["citations"]) / len(
                a["citations"])
    return rates


def at_operating_point(side: PerQuery, target: AbstainTarget) -> tuple[PerQuery, float]:
    """`side`'s answer and abstain rates had it answered when its confidence reached the threshold that meets
    `target` on these very questions (choose_threshold): how a version calibrated for another operating point is
    compared with one re-fitted for `target`, so that neither passes nor fails by the point alone. (rates, that
    threshold)"""
    confidence = side["confidence"]
    qids = [*side["answer_rate"], *side["abstain_rate"]]
    y = np.array([1] * len(side["answer_rate"]) + [0] * len(side["abstain_rate"]))
    threshold = choose_threshold(np.array([confidence[q] for q in qids]), y, target)
    moved = {"answer_rate": {q: float(confidence[q] >= threshold) for q in side["answer_rate"]},
             "abstain_rate": {q: float(confidence[q] < threshold) for q in side["abstain_rate"]}}
    return side | moved, threshold

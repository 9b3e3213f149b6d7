"""The questions the documents fail to answer: a collection's abstentions, empty results and down-voted answers
from the query log, one entry per question (the same words, case and spacing aside), grouped by topic, with counts,
examples and the askers' comments: what an editor can write or find documents for. Topics are clusters of the
logged query embeddings by average cosine distance, not drift's k-means (monitor/drift.py): k-means needs a number
of groups, and drift's one per 15 questions put a handful of questions on two subjects into one topic. A question is
closed once it is later answered without a down-vote; closed ones stay listed under their topic. Asked to re-ask
(`ask`), the report asks the newest open questions again as their askers may read and marks those the documents now
answer (`answered_now`: after documents were added, before anyone asked again); they stay open until their asker is
answered, since a report is not an answer to anyone. Issue 49, finding 11."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from ragship.learn.labels import qid_of
from ragship.monitor.querylog import QueryLog
from ragship.text import content_terms

DAYS = 30  # the report's window by default
TOPIC_DISTANCE = 0.7  # average cosine distance within a topic (MiniLM: a shared subject is ~0.3-0.6)
MOST_QUESTIONS = 5000  # the newest failed questions clustered (pairwise distances: 200 MB at 5000)
OTHERS = "other questions, each on a subject of its own"
REASONS = {"abstained": "abstained", "no_result": "found nothing", "answered": "rated down"}
REASKED = 25  # the open questions re-asked at most per report (newest failures first): a report, not a batch job


@dataclass
class Question:
    """One question the documents failed: how often (`failed`), why, the comments on its answers, the vector of its
    latest failure and who asked it then, when a later answer closed it, and what a re-ask found."""

    qid: str
    text: str
    failed: int = 0
    last_failed: float = 0.0
    reasons: Counter = field(default_factory=Counter)
    comments: list[str] = field(default_factory=list)
    vector: np.ndarray | None = None
    closed_at: float | None = None
    closed_by_version: str | None = None
    asker: str = ""  # the key of its latest failure
    answered_now: dict[str, Any] | None = None  # what a re-ask as its asker found: the answer and its documents

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.text, "failed": self.failed, "last_failed": self.last_failed,
                "reasons": dict(self.reasons), "comments": self.comments[-3:], "closed_at": self.closed_at,
                "closed_by_version": self.closed_by_version, "answered_now": self.answered_now}


def gaps(log: QueryLog, collection: str, visible: Callable[[str], bool], days: float = DAYS,
         now: float | None = None, ask: Callable[[str, str], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report over the last `days`: topics, newest-failing questions first within each, and totals. Only the
    questions of askers `visible` accepts (a key id; access.askers_visible) are counted; the rest are `hidden`.
    With `ask` ((question, asker key) -> the answer's dict as that asker may read, not logged), the newest REASKED
    open questions are asked again and those the documents now answer are marked (`reasked` counts them)."""
    now = now or time.time()
    since = now - days * 86400
    questions, hidden = failed(log, collection, since, visible)
    close(log, collection, since, questions, visible)
    reasked = reask(questions, ask, now) if ask else None
    topics = grouped(list(questions.values()))
    open_ = sum(t["open"] for t in topics)
    return {"collection": collection, "days": days, "since": since, "open": open_,
            "closed": sum(t["closed"] for t in topics), "hidden": hidden, "topics": topics,
            "kept_text": log.query_text != "hash", "reasked": reasked}


def reask(questions: dict[str, Question], ask: Callable[[str, str], dict[str, Any]], now: float) -> dict[str, int]:
    """Ask the newest-failing open questions again, each as its asker may read; mark each the documents now answer
    (an answer, not an abstention or a question back) with that answer, its documents and version.
    {asked, answered, left}"""
    open_ = sorted((q for q in questions.values() if q.closed_at is None), key=lambda q: -q.last_failed)
    answered = 0
    for q in open_[:REASKED]:
        a = ask(q.text, q.asker)
        if a["abstained"] or a.get("outcome") == "clarify":
            continue
        answered += 1
        q.answered_now = {"at": now, "version": a.get("index_version"), "answer": a["answer"],
                          "confidence": a["confidence"], "documents": [d["doc_id"] for d in a.get("documents", [])]}
    return {"asked": min(len(open_), REASKED), "answered": answered, "left": max(len(open_) - REASKED, 0)}


def failed(log: QueryLog, collection: str, since: float, visible: Callable[[str], bool]
           ) -> tuple[dict[str, Question], int]:
    """The failed questions by id, and how many failures `visible` left out."""
    rows = log.failed_asks(collection, since)
    comments = _comments(log, [row[0] for row in rows], visible)
    questions: dict[str, Question] = {}
    hidden = 0
    for answer_id, ts, asker, text, outcome, sketch in rows:
        if not visible(asker):
            hidden += 1
            continue
        if not text or text.startswith("sha256:"):  # monitor.query_text = "hash": no words to show
            continue
        q = questions.setdefault(qid_of(text), Question(qid_of(text), text))
        q.failed += 1
        q.last_failed, q.asker = ts, asker
        q.reasons[REASONS[outcome]] += 1
        q.comments += comments.get(answer_id, [])
        if sketch is not None:
            q.vector = np.frombuffer(sketch, dtype=np.float16).astype(np.float32)
    return questions, hidden


def _comments(log: QueryLog, answer_ids: list[str], visible: Callable[[str], bool]) -> dict[str, list[str]]:
    if not answer_ids:
        return {}
    out: dict[str, list[str]] = {}
    for answer_id, by, _, comment in log.feedback_on(answer_ids):
        if comment and visible(by):
            out.setdefault(answer_id, []).append(comment)
    return out


def close(log: QueryLog, collection: str, since: float, questions: dict[str, Question],
          visible: Callable[[str], bool] = lambda key: True) -> None:
    """Mark each question answered (without a down-vote) after its last failure as closed, by any asker `visible`
    accepts: an answer to a key the caller may not read says that key asked it, when, and that documents the caller
    may not read answer it."""
    for ts, text, version, asker in log.answered_asks(collection, since):
        q = questions.get(qid_of(text)) if text and visible(asker) else None
        if q is not None and ts > q.last_failed:
            q.closed_at, q.closed_by_version = ts, version


def grouped(questions: list[Question]) -> list[dict[str, Any]]:
    """Topics of `questions`, most open questions first; questions without an embedding form their own topic."""
    questions = sorted(questions, key=lambda q: -q.last_failed)[:MOST_QUESTIONS]
    size = questions[0].vector.shape if questions and questions[0].vector is not None else None
    embedded = [q for q in questions if q.vector is not None and q.vector.shape == size]  # one model's vectors
    groups: list[list[Question]] = []
    if embedded:
        labels = topics_of(np.stack([q.vector for q in embedded if q.vector is not None]))  # all: embedded has them
        groups = [[q for q, label in zip(embedded, labels) if label == c] for c in sorted(set(labels))]
    # a question alone on its subject joins the last entry, so that the topics read as a short list
    alone = [q for q in questions if q not in embedded] + [g[0] for g in groups if len(g) == 1]
    topics = sorted((_topic(g) for g in groups if len(g) > 1), key=lambda t: (-t["open"], -t["failed"], t["name"]))
    return topics + ([{**_topic(alone), "name": OTHERS, "others": True}] if alone else [])


def topics_of(vectors: np.ndarray) -> np.ndarray:
    """Each row's topic: average-linkage clusters whose members are on average within TOPIC_DISTANCE (cosine)."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                   distance_threshold=TOPIC_DISTANCE).fit(vectors).labels_


def _topic(members: list[Question]) -> dict[str, Any]:
    open_ = sorted((q for q in members if q.closed_at is None), key=lambda q: (-q.failed, -q.last_failed))
    closed = sorted((q for q in members if q.closed_at is not None), key=lambda q: -(q.closed_at or 0.0))
    return {"name": topic_name([q.text for q in members]), "others": False, "open": len(open_),
            "answered_now": sum(q.answered_now is not None for q in open_), "closed": len(closed),
            "failed": sum(q.failed for q in members),
            "last_failed": max(q.last_failed for q in members),
            "questions": [q.to_dict() for q in open_], "closed_questions": [q.to_dict() for q in closed]}


def topic_name(texts: list[str], words: int = 3) -> str:
    """The content words most of `texts` share (by how many texts hold them, at least two), e.g. "olympics,
    boycott"; else the first text's start."""
    counts = Counter(w for t in texts for w in content_terms(t) if len(w) > 2 and not w.isdigit())
    return ", ".join(w for w, n in counts.most_common(words) if n > 1) or texts[0][:60]

"""Labels from the query log: every answer that was rated, reviewed or had a source opened, joined with the
feedback on it, and merged per question (the same question asked twice is one item; its labels keep who gave
them, when, and the version that served the answer).

What a label says (ADR 0021):
- relevant documents: the chunks marked helpful (a click on a source, "opened", counts when nothing says the
  answer was wrong); without marks, the first cited document of an answer rated up;
- not relevant: the chunks marked wrong, and the cited documents of an answer rated down;
- answerable: `expected` when given; else rated up and answered, or rated down and abstained, is answerable;
  rated up and abstained, or rated down and answered without a correction, is not;
- gold answers: a correction, or the text of an answer rated up.

Ratings are noisy (a misclick, a user who cannot tell); an editor's review (`expected`) is taken as right. Where
both exist for a question, their disagreement measures how noisy the ratings are (rating_noise).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from ragship.errors import InputError
from ragship.monitor.querylog import QueryLog
from ragship.state.tables import FEEDBACK, REQUESTS


PER_KIND = 10  # reviews of each kind of rating before rating_noise weighs the kinds


@dataclass
class Label:
    answer_id: str
    by: str  # the key id that gave it
    at: float
    version: str  # the index version that served the answer
    rating: int  # +1, -1, or 0 (a review without a rating)
    outcome: str  # answered or abstained
    marks: dict[str, str] = field(default_factory=dict)  # doc id -> helpful | wrong | opened
    expected: str | None = None
    correction: str | None = None


@dataclass
class Item:
    qid: str
    question: str
    relevant: dict[str, int] = field(default_factory=dict)  # doc id -> 1
    not_relevant: list[str] = field(default_factory=list)
    answerable: bool | None = None
    answers: list[str] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        return cls(**{**d, "labels": [Label(**x) for x in d["labels"]]})


def qid_of(question: str) -> str:
    """A stable id for a question: the same words (case and spacing aside) give the same id."""
    return "q" + hashlib.sha256(" ".join(question.casefold().split()).encode()).hexdigest()[:12]


def collect(log: QueryLog, collection: str, since: float = 0.0) -> list[Item]:
    """The labeled items of a collection from its rated or reviewed answers (feedback at or after `since`)."""
    if log.query_text == "hash":
        raise InputError("monitor.query_text = \"hash\" keeps no question text, so no labeled set can be built from "
                         "the log; set it to \"redact\" or \"keep\" to learn from feedback given from then on")
    r, f = REQUESTS.c, FEEDBACK.c
    rows = log.rows(select(r.id, r.question, r.version, r.outcome, r.answer, r.sources, f.key_id, f.ts, f.rating,
                           f.marks, f.expected, f.correction)
                    .join(FEEDBACK, f.answer_id == r.id)
                    .where(r.collection == collection, r.kind == "ask", f.ts >= since).order_by(f.ts))
    items: dict[str, Item] = {}
    for (answer_id, question, version, outcome, answer, sources, by, at, rating, marks, expected,
         correction) in rows:
        if not question or question.startswith("sha256:"):
            continue
        shown = json.loads(sources) if sources else []
        doc_of = {s["chunk_id"]: s["doc_id"] for s in shown}
        label = Label(answer_id, by, at, version or "", rating, outcome or "",
                      {doc_of.get(c, c): m for c, m in (json.loads(marks) if marks else {}).items()},
                      expected, correction)
        item = items.setdefault(qid_of(question), Item(qid_of(question), question))
        item.labels.append(label)
        _apply(item, label, [s["doc_id"] for s in shown if s.get("cited")], answer)
    return [i for i in items.values() if i.relevant or i.not_relevant or i.answerable is not None]


def _apply(item: Item, label: Label, cited: list[str], answer: str | None) -> None:
    """Merge one label into its question's item; a later label overrides an earlier one where they disagree."""
    wrong = {d for d, m in label.marks.items() if m == "wrong"}
    if label.rating < 0 and label.outcome == "answered":
        wrong |= set(cited) - {d for d, m in label.marks.items() if m != "wrong"}
    helpful = {d for d, m in label.marks.items() if m == "helpful" or (m == "opened" and label.rating >= 0)}
    if not helpful and label.rating > 0 and label.outcome == "answered" and cited:
        helpful = {cited[0]}
    for d in sorted(helpful):  # sets iterate in a per-process order: sorted, the same labels make the same pairs
        item.relevant[d] = 1
        if d in item.not_relevant:
            item.not_relevant.remove(d)
    for d in sorted(wrong - helpful):
        item.relevant.pop(d, None)
        if d not in item.not_relevant:
            item.not_relevant.append(d)
    answerable = _answerable(label)
    if answerable is not None:
        item.answerable = answerable
    gold = label.correction or (answer if label.rating > 0 and label.outcome == "answered" else None)
    if gold:
        gold = re.sub(r"\s*\[\d+\]", "", gold).strip()  # citation markers are not the answer
        if gold and gold not in item.answers:
            item.answers.append(gold)


def reviewed(item: Item) -> bool:
    """Whether the item's answerability was last said by a review (`expected`), not read from a rating."""
    said = [label for label in item.labels if _answerable(label) is not None]
    return bool(said) and said[-1].expected is not None


def rating_noise(items: list[Item]) -> tuple[float, int]:
    """(The share of rating-made answerability labels that are wrong, how many reviews it rests on): how often a
    review of a rated question says otherwise than the rating. Editors review what a queue shows them, not a
    random sample, so when every kind of rating (up or down, answered or abstained) has PER_KIND reviews the share
    is taken per kind and weighted by how many questions still labeled by a rating alone each kind holds; else,
    with a few reviews of a kind too unsteady to weigh, the share of all reviews."""
    kinds: dict[tuple[bool, str], list[int]] = {}  # kind -> [labeled by a rating alone, reviewed, contradicted]
    for item in items:
        rated = [label for label in item.labels if label.expected is None and label.rating and
                 _answerable(label) is not None]
        if not rated:
            continue
        kind = kinds.setdefault((rated[-1].rating > 0, rated[-1].outcome), [0, 0, 0])
        review = next((label for label in reversed(item.labels) if label.expected is not None), None)
        if review is None:
            kind[0] += 1
        else:
            kind[1] += 1
            kind[2] += _answerable(review) != _answerable(rated[-1])
    reviews, alone = sum(k[1] for k in kinds.values()), sum(k[0] for k in kinds.values())
    if not reviews or not alone:
        return 0.0, reviews
    if any(k[1] < PER_KIND for k in kinds.values() if k[0]):
        return sum(k[2] for k in kinds.values()) / reviews, reviews
    return sum(k[0] * k[2] / k[1] for k in kinds.values() if k[0]) / alone, reviews


def _answerable(label: Label) -> bool | None:
    if label.expected:
        return label.expected == "answer"
    if label.correction:
        return True
    if label.rating == 0:
        return None
    return (label.rating > 0) == (label.outcome == "answered")

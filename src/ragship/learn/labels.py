"""Labels from the query log: every answer that was rated, reviewed or had a source opened, joined with the
feedback on it, and merged per question (the same question asked twice is one item; its labels keep who gave
them, with which role, when, and the version that served the answer).

What a label says (ADR 0021):
- relevant documents: the sources marked helpful (a click on a source, "opened", counts when nothing says the
  answer was wrong); a thumb alone names no relevant document (which cited one helped is not known: SciFact's
  thumbs-only replay trained on the first cited document and lost, issue 48);
- not relevant: the sources marked wrong, and the cited documents of an answer rated down;
- answerable: an editor's `expected` when given; else rated up and answered, or rated down and abstained, is
  answerable; rated up and abstained (the abstention confirmed) is not, unless a source it showed is marked helpful
  (the answer was there: stop 55's replay labeled 16 held-out claims unanswerable whose relevant abstract ranked
  first, and the gate refused a model for answering them); rated down and answered says nothing of it (users
  down-vote incomplete answers too: issue 49);
- gold answers: an editor's correction, or the text of an answer rated up.

What no single key can do (issue 48): a mark counts only on a source the answer showed; `expected` and a
correction count only from an editor or admin (a review), and a review outranks any number of ratings; a key's
latest vote on an answer replaces its earlier ones, and a key counts once per question; questions whose raters
disagree are held back until reviewed; and `limit_keys` caps what any one key's ratings supply to a set.

Ratings are noisy (a misclick, a user who cannot tell); an editor's review is taken as right. Where both exist
for a question, their disagreement measures how noisy the ratings are (rating_noise).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from ragship.access import KeyStore
from ragship.errors import FeedbackRefused, Forbidden, InputError
from ragship.monitor.querylog import QueryLog
from ragship.settings import Settings


PER_KIND = 10  # reviews of each kind of rating before rating_noise weighs the kinds
REVIEWERS = ("editor", "admin")
HOME_OWNER = ("local", "cli")  # a keyless local server and the CLI act as the home's admin


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
    role: str = "reader"  # the key's role: only an editor's or admin's judgement is a review
    asked_by: str = ""  # the key that asked the question ("" in sets built before issue 48)

    @property
    def review(self) -> bool:
        """An editor's or admin's judgement beyond a thumb (marks, what it should have done, a correction) of
        another key's answer; of its own answers an editor's key is a rater like any other (else one editor key
        would escape the share cap and label both sides of the split: issue 48's trial). The home's owner (a
        keyless server, the CLI) is the single user of its home and always reviews."""
        judged = bool(self.marks or self.expected or self.correction)
        return judged and reviews(self.role, self.by, self.asked_by)


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

    def raters(self) -> list[str]:
        """The keys whose ratings (not reviews) this item holds, first rater first."""
        return list(dict.fromkeys(label.by for label in self.labels if not label.review))

    def reviewers(self, role: str | None = None) -> list[str]:
        """The keys whose reviews this item holds (of `role` only, if given), first reviewer first."""
        return list(dict.fromkeys(x.by for x in self.labels if x.review and role in (None, x.role)))

    def reviewed_by_editor(self) -> bool:
        return any(label.review for label in self.labels)


@dataclass
class _Shown:
    """What an answer showed its asker: its sources (chunk id -> doc id), the cited documents in order, its text."""

    doc_of: dict[str, str]
    cited: list[str]
    text: str | None
    cited_chunks: frozenset[str] = frozenset()

    def to(self, review: bool) -> dict[str, str]:
        """What a label may mark (chunk id -> doc id): a review, every source logged (the Review page lists the
        retrieved ones); a rating, only what the answer cited (all an asker is shown)."""
        return self.doc_of if review else {c: d for c, d in self.doc_of.items() if c in self.cited_chunks}


def reviews(role: str, by: str, asker: str) -> bool:
    """Whether judgement from key `by` (of `role`) on an answer `asker` asked is a review: an editor's or admin's on
    another key's answer, or the home owner's on any."""
    return role in REVIEWERS and (by in HOME_OWNER or by != asker)


def check_feedback(role: str, sources: list[dict[str, Any]], marks: Mapping[str, str], expected: str | None,
                   correction: str | None, found: dict[str, str] | None = None) -> dict[str, str]:
    """Refuse feedback that could not count as a label (the API's 403 and 422, the CLI's one line): a review
    (`expected`, a correction) from a reader, or a mark on anything but a source the answer showed or, in a
    review, a chunk the reviewer found and may read (`found`: chunk id -> doc id). The marks to keep: a found
    chunk's by its document, so the label needs nothing but the row."""
    if (expected or correction) and role not in REVIEWERS:
        raise Forbidden("`expected` and `correction` are an editor's review; a reader rates (up or down), marks the "
                        "sources the answer showed, and may leave a comment")
    found = found or {}
    listed = sources if role in REVIEWERS else [s for s in sources if s.get("cited")]  # a reader saw the citations
    shown = {s["chunk_id"] for s in listed} | {s["doc_id"] for s in listed}
    unknown = [ref for ref in marks if ref not in shown and ref not in found]
    if unknown:
        what = ("the chunk ids of its citations or retrieved sources (`ragship feedback list --json` lists them), "
                "or any chunk you may read (search for it)") if role in REVIEWERS else "the chunk ids of its citations"
        raise FeedbackRefused(f"marks: {unknown[0]!r} is not a source this answer showed; mark {what}")
    return {found.get(ref, ref) if ref not in shown else ref: mark for ref, mark in marks.items()}


def qid_of(question: str) -> str:
    """A stable id for a question: the same words (case and spacing aside) give the same id."""
    return "q" + hashlib.sha256(" ".join(question.casefold().split()).encode()).hexdigest()[:12]


def collect(log: QueryLog, collection: str, since: float = 0.0, dropped: Counter | None = None) -> list[Item]:
    """The labeled items of a collection from its rated or reviewed answers (feedback at or after `since`);
    what was not counted, and why, is added to `dropped` (reason -> labels)."""
    if log.query_text == "hash":
        raise InputError("monitor.query_text = \"hash\" keeps no question text, so no labeled set can be built from "
                         "the log; set it to \"redact\" or \"keep\" to learn from feedback given from then on")
    dropped = Counter() if dropped is None else dropped
    rows = log.rated_answers(collection, since)
    roles = KeyStore(log.state).roles() if rows else {}
    latest: dict[tuple[str, str, bool], tuple[str, Label]] = {}  # (answer, key, review?) -> its latest label
    shown: dict[str, _Shown] = {}
    for row in rows:
        answer_id, question, by, sources, asker = (row["answer_id"], row["question"], row["rated_by"], row["sources"],
                                                   row["asked_by"])
        if not question or question.startswith("sha256:"):
            continue
        listed = json.loads(sources) if sources else []
        seen = shown.setdefault(answer_id, _Shown({s["chunk_id"]: s["doc_id"] for s in listed},
                                                  [s["doc_id"] for s in listed if s.get("cited")], row["answer"],
                                                  frozenset(s["chunk_id"] for s in listed if s.get("cited"))))
        role = roles.get(by) or ("admin" if by in HOME_OWNER else "reader")
        label = _label(answer_id, by, row["rated_at"], row["version"], row["rating"], row["outcome"], row["marks"],
                       row["expected"], row["correction"], role, seen, dropped, asker or "")
        if label is None:
            continue
        slot = (answer_id, by, label.review)
        if slot in latest:
            dropped["replaced by the same key's later vote on the answer"] += 1
        latest[slot] = (question, label)
    return _merged(sorted(latest.values(), key=lambda x: x[1].at), shown, dropped)


def _label(answer_id, by, at, version, rating, outcome, marks, expected, correction, role, seen: _Shown,
           dropped: Counter, asker: str) -> Label | None:
    """One feedback row as a label: marks only on what the answer showed (a review's also on the documents the
    reviewer found, kept by document id: check_feedback), reviews only from editors and admins."""
    marked = {}
    review = reviews(role, by, asker)
    markable = seen.to(review)
    for ref, mark in (json.loads(marks) if marks else {}).items():
        doc = markable.get(ref) or (ref if ref in markable.values() or review else None)
        if doc is None:
            dropped["a mark on a source the answer did not show"] += 1
        else:
            marked[doc] = mark
    if (expected or correction) and role not in REVIEWERS:
        dropped["expected or a correction from a reader (a review is an editor's)"] += 1
        expected = correction = None
    if not (rating or marked or expected or correction):
        return None
    return Label(answer_id, by, at, version or "", rating, outcome or "", marked, expected, correction, role, asker)


def _merged(labels: list[tuple[str, Label]], shown: dict[str, _Shown], dropped: Counter) -> list[Item]:
    """Items per question: each key's latest rating of it, held back where raters disagree, then the reviews."""
    items: dict[str, Item] = {}
    for question, label in labels:
        item = items.setdefault(qid_of(question), Item(qid_of(question), question))
        if not label.review:
            earlier = next((x for x in item.labels if x.by == label.by and not x.review), None)
            if earlier is not None:
                item.labels.remove(earlier)
                dropped["replaced by the same key's later rating of the question"] += 1
        item.labels.append(label)
    for item in items.values():
        ratings = [x for x in item.labels if not x.review]
        if len({_answerable(x) for x in ratings} - {None}) > 1 and not item.reviewed_by_editor():
            dropped["a question whose raters disagree (held back until an editor reviews it)"] += 1
            ratings = []
        for label in ratings + [x for x in item.labels if x.review]:  # reviews last: they outrank ratings
            seen = shown[label.answer_id]
            _apply(item, label, seen.cited, seen.text)
    return [i for i in items.values() if i.relevant or i.not_relevant or i.answerable is not None]


def answer_labels(items: list[Item]) -> dict[str, int]:
    """The answerable and unanswerable questions among `items`: one count for the plan, a set's figures and its
    files. A question both judged (a source marked helpful) and unanswerable counts as unanswerable."""
    return {"answerable": sum(i.answerable is True for i in items),
            "unanswerable": sum(i.answerable is False for i in items)}


def limit_keys(items: list[Item], share: float, review_share: float = 1.0) -> tuple[list[Item], dict[str, int]]:
    """`items` with no key's ratings supplying more than `share` of those kept, and no editor's reviews more than
    `review_share` (an admin's and the home owner's are not capped: they can promote by hand anyway): a question
    counts for every key that rated it or, once reviewed, for its editor reviewers alone; a key over its share of
    what is kept loses its latest questions, and the shares are taken again of what remains until every key is
    within them (one key alone keeps nothing: nothing else vouches for its labels). The kept items, and per key
    the questions left out."""
    order = sorted(items, key=lambda i: (min(x.at for x in i.labels), i.qid))  # first come, first kept
    kept = {i.qid for i in order}
    capped: Counter = Counter()
    while True:
        over = _over_share(order, kept, share, review_share)
        if not over:
            return [i for i in order if i.qid in kept], dict(capped)
        for key, qids in over:
            dropped = [q for q in qids if q in kept]
            kept -= set(dropped)
            capped[key] += len(dropped)


def _over_share(order: list[Item], kept: set[str], share: float, review_share: float) -> list[tuple[str, list[str]]]:
    """(key, its latest questions beyond its share of `kept`) for each key over it: ratings at `share`, an editor's
    reviews at `review_share`."""
    rated: dict[str, list[str]] = {}
    reviewed: dict[str, list[str]] = {}
    for item in (i for i in order if i.qid in kept):
        counted, keys = (reviewed, item.reviewers("editor")) if item.reviewed_by_editor() else (rated, item.raters())
        for key in keys:
            counted.setdefault(key, []).append(item.qid)
    return [(key, qids[int(cap * len(kept)):]) for counted, cap in ((rated, share), (reviewed, review_share))
            for key, qids in counted.items() if len(qids) > int(cap * len(kept))]


def sources(items: list[Item], dropped: Counter, capped: dict[str, int], share: float,
            roles: dict[str, str] | None = None, review_share: float = 1.0) -> dict[str, Any]:
    """Who the labels of a set came from: per key its role, the questions it labeled and its labels and reviews
    (with the questions the share cap left out), and what was not counted and why. `roles`: the role of each key
    (of every item, before the cap), for a key the cap left nothing of."""
    keys: dict[str, dict[str, Any]] = {}
    for item in items:
        for key in dict.fromkeys(x.by for x in item.labels):
            mine = [x for x in item.labels if x.by == key]
            entry = keys.setdefault(key, {"role": mine[0].role, "questions": 0, "labels": 0, "reviews": 0})
            entry["questions"] += 1
            entry["labels"] += len(mine)
            entry["reviews"] += sum(x.review for x in mine)
    for key, n in capped.items():
        keys.setdefault(key, {"role": (roles or {}).get(key, "reader"), "questions": 0, "labels": 0,
                              "reviews": 0})["capped"] = n
    reasons = dict(dropped)
    if capped:
        reasons[f"over one key's share (improve.max_key_share = {share:g}, max_review_share = "
                f"{review_share:g})"] = sum(capped.values())
    return {"keys": dict(sorted(keys.items(), key=lambda kv: -kv[1]["questions"])),
            "reviews": sum(k["reviews"] for k in keys.values()), "max_key_share": share,
            "max_review_share": review_share, "dropped": reasons}


def _apply(item: Item, label: Label, cited: list[str], answer: str | None) -> None:
    """Merge one label into its question's item; a later label overrides an earlier one where they disagree (a thumb
    names no relevant document: see the module's text)."""
    wrong = {d for d, m in label.marks.items() if m == "wrong"}
    if label.rating < 0 and label.outcome == "answered":
        wrong |= set(cited) - {d for d, m in label.marks.items() if m != "wrong"}
    helpful = {d for d, m in label.marks.items() if m == "helpful" or (m == "opened" and label.rating >= 0)}
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


def label_noise(settings: Settings, items: list[Item]) -> dict[str, Any]:
    """How noisy the ratings among `items` are taken to be: `improve.label_noise` when set, else measured on the
    rated questions editors reviewed (rating_noise), when there are `improve.min_reviews` of them."""
    measured, reviews = rating_noise(items)
    s = settings.improve
    if s.label_noise is not None:
        return {"rate": s.label_noise, "reviews": reviews, "how": "improve.label_noise"}
    if reviews < s.min_reviews:
        return {"rate": 0.0, "reviews": reviews, "how": f"not measured: {reviews} rated answers reviewed "
                f"(improve.min_reviews = {s.min_reviews}); ratings taken as right"}
    return {"rate": round(measured, 4), "reviews": reviews, "how": "measured: reviews against ratings"}


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
    """What a label says of answerability: a review's `expected` or correction; else up and answered, or down and
    abstained, answerable; up and abstained, not, unless a source is marked helpful (it held the answer); a
    down-vote on an answer, nothing (it may be incomplete)."""
    if label.expected:
        return label.expected == "answer"
    if label.correction or (label.rating > 0 and "helpful" in label.marks.values()):
        return True
    if label.rating == 0 or (label.rating < 0 and label.outcome == "answered"):
        return None
    return (label.rating > 0) == (label.outcome == "answered")

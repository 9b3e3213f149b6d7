"""Answer-level evaluation and calibration data, for datasets with gold answers (`answers.jsonl`) and
unanswerable questions (`queries_unanswerable.jsonl`) beside the BEIR files, as clapnq-dev has.

Token F1 is SQuAD v1.1's (lower-case, no punctuation or articles, bag-of-tokens F1, best over gold answers).
A citation is correct when its chunk is from the gold passage or contains a gold answer.
"""

from __future__ import annotations

import collections
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ragship.errors import DatasetError
from ragship.evaluate.beir import Dataset, read_queries


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answerable: bool
    answers: tuple[str, ...] = ()
    gold_docs: frozenset[str] = frozenset()


def has_answers(root: Path) -> bool:
    return (Path(root) / "answers.jsonl").is_file()


def load_questions(dataset: Dataset) -> list[Question]:
    """The split's answerable questions with their gold answers, then the unanswerable ones (if any)."""
    path = dataset.root / "answers.jsonl"
    if not path.is_file():
        raise DatasetError(f"{path}: not found; answer evaluation and calibration need gold answers "
                           '({"_id", "answers": [...]} per line) and queries_unanswerable.jsonl')
    gold: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                    gold[str(row["_id"])] = [a for a in row["answers"] if a.strip()]
                except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                    raise DatasetError(f'{path}:{lineno}: expected {{"_id": ..., "answers": [strings]}}') from None
    path = dataset.root / "queries_unanswerable.jsonl"
    unanswerable = read_queries(path) if path.is_file() else {}
    # a question listed unanswerable is that, even when judged (a labeled set's: a source marked helpful)
    questions = [Question(q, text, True, tuple(gold.get(q, ())), frozenset(dataset.qrels.get(q, {})))
                 for q, text in dataset.queries.items() if q not in unanswerable]
    return questions + [Question(q, text, False) for q, text in unanswerable.items()]


def normalize(text: str) -> str:
    text = re.sub(r"\[\d+\]", " ", text.lower())  # citation markers are not answer text
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction).split(), normalize(gold).split()
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def citation_correct(citation: dict[str, Any], q: Question) -> bool:
    if citation["doc_id"] in q.gold_docs:
        return True
    text = normalize(citation.get("text", ""))
    return any(normalize(a) and normalize(a) in text for a in q.answers)


def answer_metrics(questions: list[Question], ask: Callable[[str], dict[str, Any]]) -> dict[str, float]:
    """answer_f1 (mean over answerable questions, 0 when abstained), citation_precision (over the citations of
    answered answerable questions), answer_rate (answerable answered), abstain_rate (unanswerable abstained)."""
    f1s, cited, correct, answered, abstained = [], 0, 0, 0, 0
    for q in questions:
        a = ask(q.text)
        if not q.answerable:
            abstained += a["abstained"]
            continue
        if a["abstained"]:
            f1s.append(0.0)
            continue
        answered += 1
        f1s.append(max((token_f1(a["answer"], g) for g in q.answers), default=0.0))
        cited += len(a["citations"])
        correct += sum(citation_correct(c, q) for c in a["citations"])
    n_answerable = sum(q.answerable for q in questions)
    n_unanswerable = len(questions) - n_answerable
    return {
        "answer_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
        "citation_precision": round(correct / cited, 4) if cited else 0.0,
        "answer_rate": round(answered / n_answerable, 4) if n_answerable else 0.0,
        "abstain_rate": round(abstained / n_unanswerable, 4) if n_unanswerable else 0.0,
    }

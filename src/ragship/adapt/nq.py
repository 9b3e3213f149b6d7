"""QA-model training pairs in Natural Questions' style from questions with answer texts but no passages (the layout
of CLAP NQ's train split: `*_answerable.tsv` with `id`, `question`, `doc-id-list`, `answers`, and
`*_unanswerable.tsv` with `id`, `question`). Each context is two answer texts, as a retrieved passage would hold
an answer among on-topic text:

- answerable: the question's own answer and the other answer most like the question (in a random order);
- unanswerable: the two other answers most like an answerable question (another question's answer on the same
  subject), and the two answers most like an unanswerable question.

"Most like" is TF-IDF cosine between the question and the answer texts, as lexical retrieval would rank them; an
answer from an overlapping part of the same page, or holding half of the question's own answer's words, is never
one of its negatives. The own answer (whole sentences) is taught as a span from its first token (adapt/qa.py keeps
at most MAX_ANSWER_TOKENS of it). Measured (ADR 0014): mixed with SQuAD for one epoch, these pairs taught the
question rather than the passage (held-out AUC 0.59, taught as spans or not), so they are not in the default
recipe."""

from __future__ import annotations

import random
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ragship.evaluate.labeled_questions import load_questions

__all__ = ["examples", "held_out", "load_questions", "split"]

HELD_OUT_EVERY = 8  # every 8th question (by a hash of its id) validates instead of training


def held_out(question: dict) -> bool:
    return zlib.crc32(question["id"].encode()) % HELD_OUT_EVERY == 0


def examples(answerable: list[dict], unanswerable: list[dict], seed: int) -> list[dict]:
    """Training examples in adapt/qa.py's SQuAD form."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = random.Random(seed)
    answers = [a["answer"] for a in answerable]
    vectors = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit(answers)
    pool = vectors.transform(answers)
    similar = (vectors.transform([q["question"] for q in answerable + unanswerable]) @ pool.T).toarray()
    out = []
    for i, q in enumerate(answerable):
        others = [j for j in np.argsort(-similar[i])[:12] if _may_pair(q, answerable[j], i, j)][:2]
        if len(others) < 2:
            continue
        own, distractor, second = q["answer"], answers[others[0]], answers[others[1]]
        first = rng.random() < 0.5
        context = f"{own} {distractor}" if first else f"{distractor} {own}"
        at = 0 if first else len(distractor) + 1
        out.append(_example(q, context, [{"text": own, "answer_start": at}]))
        out.append(_example(q, f"{distractor} {second}", []))
    for k, q in enumerate(unanswerable):
        top = np.argsort(-similar[len(answerable) + k])[:2]
        out.append(_example(q, f"{answers[top[0]]} {answers[top[1]]}", []))
    return out


def _may_pair(own: dict, other: dict, i: int, j: int) -> bool:
    """May `other`'s answer stand for a text that does not answer `own`'s question?"""
    if i == j:
        return False
    (page, first, last), (other_page, other_first, other_last) = own["page"], other["page"]
    if page == other_page and first < other_last and other_first < last:
        return False
    words, others = set(own["answer"].lower().split()), set(other["answer"].lower().split())
    return len(words & others) <= len(words) / 2


def _example(question: dict, context: str, answers: list[dict[str, Any]]) -> dict:
    return {"title": f"nq:{question['id']}", "paragraph": f"nq:{question['id']}", "context": context,
            "question": question["question"], "answers": answers, "impossible": not answers}


def split(folder: Path, seed: int) -> tuple[list[dict], list[dict]]:
    """(training, validation) examples: the held-out questions' examples validate, the others train."""
    answerable, unanswerable = load_questions(folder)
    made = examples(answerable, unanswerable, seed)
    held = {q["question"] for q in answerable + unanswerable if held_out(q)}
    return [e for e in made if e["question"] not in held], [e for e in made if e["question"] in held]

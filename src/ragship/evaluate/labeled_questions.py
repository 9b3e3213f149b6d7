"""Questions labeled answerable or not, with no passages: CLAP NQ train's layout (`*_answerable.tsv` with `id`,
`question`, `doc-id-list`, `answers`; `*_unanswerable.tsv` with `id`, `question`). QA training pairs are made from
them (adapt/nq.py), and a question prior is fitted on them (`ragship calibrate DATA --questions FOLDER`)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from ragship.errors import DatasetError


def load_questions(folder: Path) -> tuple[list[dict], list[dict]]:
    """(answerable, unanswerable) questions of a CLAP NQ-layout folder."""
    def one(pattern: str) -> Path:
        found = sorted(folder.glob(pattern))
        if not found:
            raise DatasetError(f"{folder}: no {pattern} file; expected CLAP NQ's layout (question_train_answerable.tsv "
                               "with id, question, doc-id-list, answers; question_train_unanswerable.tsv with id, "
                               "question)")
        return found[0]

    csv.field_size_limit(sys.maxsize)
    rows = {}
    for kind, pattern in (("answerable", "*_answerable.tsv"), ("unanswerable", "*_unanswerable.tsv")):
        path = one(pattern)
        with path.open(encoding="utf-8", newline="") as f:
            rows[kind] = list(csv.DictReader(f, delimiter="\t"))
        if rows[kind] and not {"id", "question"} <= set(rows[kind][0]):
            raise DatasetError(f"{path}: needs the columns id and question (tab-separated)")
    answerable = [{"id": r["id"], "question": r["question"].strip(), "answer": answer,
                   "page": _page(r.get("doc-id-list") or "")}
                  for r in rows["answerable"] if (answer := _first(r.get("answers") or ""))]
    unanswerable = [{"id": r["id"], "question": r["question"].strip()} for r in rows["unanswerable"]]
    if not answerable:
        raise DatasetError(f"{folder}: no answerable question with an answer text (column `answers`)")
    return answerable, unanswerable


def _first(answers: str) -> str:
    """The first of an answer field's annotations ("::" joins a question's several, often the same sentence twice)."""
    return next((" ".join(a.split()) for a in answers.split("::") if a.strip()), "")


def _page(doc: str) -> tuple[str, int, int]:
    """"813602675_557-1132" → ("813602675", 557, 1132): the page and the answer's characters on it."""
    page, _, span = doc.partition("_")
    first, _, last = span.partition("-")
    return (page, int(first), int(last)) if first.isdigit() and last.isdigit() else (doc, 0, 0)

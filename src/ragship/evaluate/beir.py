"""BEIR dataset layout: corpus.jsonl[.gz], queries.jsonl, qrels/SPLIT.tsv (query-id, corpus-id, score)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ragship.errors import DatasetError


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    corpus: Path | None  # None for a labeled set of a collection's own documents (learn/datasets.py)
    split: str
    queries: dict[str, str]  # only the queries judged in the split
    qrels: dict[str, dict[str, int]]

    @property
    def corpus_file(self) -> Path:
        """The corpus; a labeled set of a collection's own documents has none."""
        if self.corpus is None:
            raise DatasetError(f"{self.root}: no corpus.jsonl or corpus.jsonl.gz; a BEIR dataset needs one")
        return self.corpus


def load_dataset(root: Path, split: str = "test", corpus: bool = True) -> Dataset:
    """The split's judged queries; `corpus=False` for a set that judges a collection's own documents (the gate
    and the improvement loop read no corpus)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    found = next((root / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (root / n).is_file()), None)
    if found is None and corpus:
        raise DatasetError(f"{root}: no corpus.jsonl or corpus.jsonl.gz; a BEIR dataset needs one")
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        splits = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise DatasetError(f"{qrels_path}: no qrels for split {split!r}; "
                           + (f"available splits: {', '.join(splits)}" if splits else "the folder has no qrels/*.tsv"))
    qrels = read_qrels(qrels_path)
    all_queries = read_queries(root / "queries.jsonl")
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise DatasetError(f"{qrels_path}: {len(missing)} query ids are not in queries.jsonl (first: {missing[0]!r})")
    return Dataset(root.name, root, found, split, {q: all_queries[q] for q in qrels}, qrels)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if not row or (lineno == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # blank line or the header
            if len(row) != 3:
                raise DatasetError(f"{path}:{lineno}: expected 3 tab-separated columns (query-id, corpus-id, score)")
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
            except ValueError:
                raise DatasetError(f"{path}:{lineno}: score {row[2]!r} is not an integer") from None
    if not qrels:
        raise DatasetError(f"{path}: no judgements")
    return qrels


def read_queries(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise DatasetError(f"{path}: queries.jsonl not found")
    queries: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                queries[str(row["_id"])] = row["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise DatasetError(f'{path}:{lineno}: each line must be a JSON object with "_id" and "text"') from None
    return queries

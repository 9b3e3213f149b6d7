"""The labeled set of a collection, kept versioned in its home: HOME/datasets/NNNN/, append-only (a
build that finds the same labels as the newest version adds nothing). Each version holds the items with their
provenance (labels.jsonl) and two BEIR-layout folders the evaluation, calibration, adaptation and gate code
already read: `train/` and `heldout/`. A question's side is fixed by a hash of its first rater's key (of its
text when only editors reviewed it; HELDOUT_SHARE of them held out): every question a key rated first lies on
one side, so no key's labels confirm a model trained on that key's labels (issue 48), and a held-out question is
never trained on in any version. Documents are the collection's own: a
version has no corpus.jsonl; `export` writes one from the live index for use elsewhere."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragship.errors import InputError
from ragship.fsio import atomic_write_json, atomic_write_text, read_json
from ragship.learn.labels import Item, answer_labels
from ragship.util.clock import now

HELDOUT_SHARE = 0.2
SPLITS = ("train", "heldout")


def heldout(qid: str, share: float = HELDOUT_SHARE) -> bool:
    return int(hashlib.sha256(qid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def held_out(item: Item, share: float = HELDOUT_SHARE) -> bool:
    """Whether `item` is on the held-out side: by its first rater's key, else its first reviewer's (a question only
    reviewed is never placed by its words, which whoever asked it chose), else by its id."""
    keys = item.raters() or item.reviewers()
    return heldout("key:" + keys[0] if keys else item.qid, share)


@dataclass(frozen=True)
class LabeledSet:
    number: int
    root: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.root.parent.name}/{self.root.name}"

    def items(self, split: str | None = None) -> list[Item]:
        rows = [Item.from_dict(json.loads(line)) for line in (self.root / "labels.jsonl").read_text().splitlines()
                if line.strip()]
        return [i for i in rows if split is None or (split == "heldout") == held_out(i)]

    def split(self, name: str) -> Path:
        """The BEIR folder of one side (queries.jsonl, qrels/test.tsv, answers.jsonl, queries_unanswerable)."""
        return self.root / name


class Datasets:
    """The versions of one collection's labeled set."""

    def __init__(self, folder: Path):
        self.folder = folder

    def versions(self) -> list[LabeledSet]:
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if p.name.isdigit() and (p / "dataset.json").is_file()]
        return [LabeledSet(int(p.name), p, read_json(p / "dataset.json"))
                for p in sorted(found, key=lambda p: int(p.name))]

    def latest(self) -> LabeledSet | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def get(self, number: int | None = None) -> LabeledSet:
        found = self.latest() if number is None else next((v for v in self.versions() if v.number == number), None)
        if found is None:
            raise InputError(f"no labeled set {number or ''} in {self.folder}: `ragship dataset build` makes one "
                             "from rated answers".replace("  ", " "))
        return found

    def build(self, items: list[Item], collection: str,
              sources: dict[str, Any] | None = None) -> tuple[LabeledSet, bool]:
        """A new version holding `items`, or the newest one when it holds the same labels; (set, new?). `sources`:
        who the labels came from (labels.sources), kept in the manifest."""
        lines = "".join(json.dumps(i.to_dict(), sort_keys=True) + "\n" for i in sorted(items, key=lambda i: i.qid))
        digest = hashlib.sha256(lines.encode()).hexdigest()
        latest = self.latest()
        if latest is not None and latest.manifest.get("sha256") == digest:
            return latest, False
        number = (latest.number if latest else 0) + 1
        root = self.folder / f"{number:04d}"
        shutil.rmtree(root, ignore_errors=True)  # a build that crashed half-way left it without its manifest
        root.mkdir(parents=True)
        atomic_write_text(root / "labels.jsonl", lines)
        counts = {side: _write_split(root / side, [i for i in items if (side == "heldout") == held_out(i)])
                  for side in SPLITS}
        manifest = {"number": number, "collection": collection, "created": now(), "sha256": digest,
                    "items": len(items), "labels": sum(len(i.labels) for i in items), "splits": counts,
                    "heldout_share": HELDOUT_SHARE, "heldout_by": "the first rater's key", "sources": sources or {}}
        atomic_write_json(root / "dataset.json", manifest)  # last: a version without it does not exist
        return LabeledSet(number, root, manifest), True


def _write_split(folder: Path, items: list[Item]) -> dict[str, int]:
    """One side in the BEIR layout; the figures it holds."""
    (folder / "qrels").mkdir(parents=True)
    judged = [i for i in items if i.relevant]
    atomic_write_text(folder / "queries.jsonl", "".join(json.dumps({"_id": i.qid, "text": i.question}) + "\n"
                                                        for i in items))
    atomic_write_text(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\n" + "".join(
        f"{i.qid}\t{d}\t{g}\n" for i in judged for d, g in sorted(i.relevant.items())))
    atomic_write_text(folder / "answers.jsonl", "".join(json.dumps({"_id": i.qid, "answers": i.answers}) + "\n"
                                                        for i in items if i.answerable and i.answers))
    # a judged one is a query too (its qrels); answer evaluation reads it as unanswerable (answers.load_questions)
    atomic_write_text(folder / "queries_unanswerable.jsonl", "".join(
        json.dumps({"_id": i.qid, "text": i.question}) + "\n" for i in items if i.answerable is False))
    return {"questions": len(items), "judged": len(judged), **answer_labels(items)}


def export(labeled: LabeledSet, split: str, view, dest: Path) -> dict[str, int]:
    """One side of a labeled set as a complete BEIR folder: its files and the collection's documents (their
    chunks' text, in order) as corpus.jsonl."""
    if split not in SPLITS:
        raise InputError(f"--split is train or heldout; got {split!r}")
    if dest.exists() and any(dest.iterdir()):
        raise InputError(f"{dest} exists and is not empty; export into a new folder")
    shutil.copytree(labeled.split(split), dest, dirs_exist_ok=True)
    (dest / "qrels" / "test.tsv").rename(dest / "qrels" / f"{split}.tsv")
    rows = view.rows(["doc_id", "title", "text", "start"])
    docs: dict[str, list[tuple[int, str, str]]] = {}
    for d, title, text, start in zip(*(rows[c].to_pylist() for c in ("doc_id", "title", "text", "start"))):
        docs.setdefault(d, []).append((start, title or "", text))
    with (dest / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for d, chunks in docs.items():
            chunks.sort()
            f.write(json.dumps({"_id": d, "title": chunks[0][1], "text": "\n".join(c[2] for c in chunks)}) + "\n")
    queries = sum(1 for line in (dest / "queries.jsonl").read_text().splitlines() if line.strip())
    return {"documents": len(docs), "queries": queries}

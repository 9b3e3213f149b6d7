"""Incremental ingest on a copy of SciFact: change 10 documents, delete 5, add 5; the next ingest must embed only
those documents' chunks, and the deleted ones must no longer be retrievable.

    python scripts/incremental_scifact.py [--work DIR] [--cache DIR] [--corpus PATH] [--change 10 --delete 5 --add 5]

--corpus: another BEIR corpus.jsonl(.gz) in place of SciFact's.

--cache reuses an embedding cache for the first, full ingest (the second ingest's count of embedded chunks is
what is checked, so a warm cache for the unchanged corpus does not flatter it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl.gz"


def edited(docs: list[dict], rng: random.Random, change: int, delete: int, add: int):
    """The corpus with `change` documents changed and `delete` deleted, picked at random; the changed ids, the
    deleted ones' titles by id, and `add` new documents."""
    picked = rng.sample(range(len(docs)), change + delete)
    docs = list(docs)
    for i in picked[:change]:
        docs[i] = {**docs[i], "text": docs[i]["text"] + " Erratum: this abstract was revised in 2026."}
    titles_deleted = {docs[i]["_id"]: docs[i]["title"] for i in picked[change:]}
    added = [{"_id": f"new-{n}", "title": f"Synthetic study {n} of marsupial sleep spindles",
              "text": f"In trial {n}, quokkas slept {n + 3} hours more after eucalyptus supplementation."}
             for n in range(add)]
    return ([d for d in docs if d["_id"] not in titles_deleted], [docs[i]["_id"] for i in picked[:change]],
            titles_deleted, added)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--corpus", type=Path, default=SCIFACT)
    ap.add_argument("--change", type=int, default=10)
    ap.add_argument("--delete", type=int, default=5)
    ap.add_argument("--add", type=int, default=5)
    args = ap.parse_args(argv)
    from ragship.engine import Engine
    from ragship.settings import load_settings

    work = args.work or Path(tempfile.mkdtemp(prefix="ragship-incr-"))
    work.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.corpus, "rt") if args.corpus.suffix == ".gz" else open(args.corpus) as f:
        docs = [json.loads(line) for line in f if line.strip()]
    corpus = work / "corpus.jsonl"

    def write(rows):
        return corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))

    write(docs)
    engine = Engine(load_settings(home=work / "home", cache_dir=args.cache or work / "cache"))
    first = engine.ingest([corpus])
    print(json.dumps({"first_ingest": {k: first.to_dict()[k] for k in ("version", "added", "documents", "chunks")}}))

    docs, changed, titles_deleted, added = edited(docs, random.Random(args.seed), args.change, args.delete, args.add)
    deleted = list(titles_deleted)
    write(docs + added)

    second = engine.ingest([corpus])
    view = engine.store().view(second.version)
    rows = view.chunk_ids()
    touched = set(changed) | {a["_id"] for a in added}
    touched_chunks = sum(1 for _, d in rows if d in touched)
    still_there = [d for d in deleted if any(doc == d for _, doc in rows)]
    retrievable = [d for d, title in titles_deleted.items()
                   if any(h.doc_id == d for mode in ("bm25", "dense", "hybrid")
                          for h in engine.search(title, mode, 20).hits)]
    result = {
        "second_ingest": {k: second.to_dict()[k] for k in
                          ("version", "added", "changed", "deleted", "unchanged", "chunks_written", "chunks_embedded")},
        "chunks_of_the_changed_and_added_documents": touched_chunks,
        "deleted_rows_left": still_there,
        "deleted_retrievable_by_title": retrievable,
        "previous_version_still_has_them": sum(1 for _, d in engine.store().view(first.version).chunk_ids()
                                               if d in set(deleted)) > 0,
    }
    result["ok"] = (second.added == args.add and second.changed == args.change and second.deleted == args.delete
                    and second.chunks_written == touched_chunks and 0 < second.chunks_embedded <= touched_chunks
                    and not still_there and not retrievable)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)

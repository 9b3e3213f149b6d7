"""`ragship adapt`: mine pairs from the user's data, hold out queries for validation, fine-tune the embedding
model, save it (with its training-data hash, settings and validation scores) under HOME/models, and ingest
again: a new index version embedded with the adapted model (the previous versions stay, and stay usable with
the previous model). It returns the models it made; the CLI points `embed.model` (and `rerank.model`) at them."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from ragship.adapt import biencoder, crossencoder
from ragship.adapt.pairs import Pair, cloze_pairs, labeled_pairs
from ragship.embed import CachedEmbedder
from ragship.errors import DatasetError
from ragship.evaluate.beir import load_dataset
from ragship.evaluate.metrics import retrieval_metrics
from ragship.evaluate.runner import Searchable
from ragship.fsio import atomic_write_json
from ragship.home import Home
from ragship.settings import Settings
from ragship.util.clock import now

VALIDATION_SHARE = 0.1
VALIDATION_DEPTH = 30  # hybrid candidates re-ranked by each model for the validation score
CLOZE_PAIRS = 4000


class Adaptable(Searchable, Protocol):
    """What `adapt` uses of a collection."""

    home: Home

    @property
    def embedder(self) -> CachedEmbedder: ...

    def sibling(self, settings: Settings) -> Adaptable: ...


@dataclass
class AdaptReport:
    model_path: str
    mode: str  # "labeled" or "cloze"
    pairs: int
    data_sha256: str
    training: dict[str, Any]
    validation: dict[str, Any]
    settings: dict[str, Any]
    version: str | None = None  # the index version built with the adapted model
    extra: dict[str, Any] = field(default_factory=dict)


def adapt(engine: Adaptable, data: Path, split: str = "train", *, unsupervised: bool = False,
          reranker: bool = False, epochs: int = 3, batch_size: int = 32, lr: float = 2e-5,
          budget_s: float | None = None, seed: int = 0, observe: Callable | None = None,
          progress: Callable[[int, int, float], None] | None = None) -> AdaptReport:
    rng = random.Random(seed)
    corpus, queries, qrels = _data(Path(data), split, unsupervised)
    engine.release(engine.ingest([corpus], observe=observe))
    searcher = engine.searcher()
    if queries:
        held = set(rng.sample(sorted(queries), max(1, int(len(queries) * VALIDATION_SHARE))))
        pairs = labeled_pairs({q: t for q, t in queries.items() if q not in held}, qrels, searcher, rng)
        validation_queries = {q: queries[q] for q in held}
    else:
        pairs = cloze_pairs(searcher, rng, CLOZE_PAIRS)
        rng.shuffle(pairs)
        cut = max(1, int(len(pairs) * VALIDATION_SHARE))
        validation_queries = {p.qid: p.query for p in pairs[:cut]}
        qrels = {p.qid: {p.qid.rsplit("#", 1)[0]: 1} for p in pairs[:cut]}
        pairs = pairs[cut:]
    if not pairs:
        raise DatasetError(f"{data}: no training pairs could be built (no judged query found a negative)")
    digest = _hash(pairs)
    out = engine.home.models / f"{Path(engine.embedder.path).name}-adapted-{digest[:10]}"
    base = _validate(searcher, validation_queries, qrels, _by_embedder(engine.embedder))
    training = biencoder.train(engine.embedder.path, pairs, out, epochs=epochs, batch_size=batch_size, lr=lr,
                               budget_s=budget_s, seed=seed, progress=progress)
    adapted_engine = engine.sibling(with_model(engine.settings, str(out)))
    adapted = _validate(searcher, validation_queries, qrels, _by_embedder(adapted_engine.embedder))
    hyper = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "budget_s": budget_s, "seed": seed,
             "base_model": engine.embedder.model_id, "data": str(data), "split": split}
    report = AdaptReport(str(out), "cloze" if not queries else "labeled", len(pairs), digest, training,
                         {"queries": len(validation_queries), "metric": f"nDCG@10 re-ranking hybrid top "
                          f"{VALIDATION_DEPTH}", "base": base, "adapted": adapted}, hyper)
    atomic_write_json(out / "ragship-adapt.json", {**asdict(report), "date": now()})
    if reranker:
        report.extra["reranker"] = _train_reranker(engine, pairs, digest, searcher, validation_queries, qrels,
                                                   budget_s, seed, progress)
    report.version = adapted_engine.release(adapted_engine.ingest([corpus], observe=observe)).version
    return report


def _train_reranker(engine: Adaptable, pairs, digest, searcher, queries, qrels, budget_s, seed, progress) -> dict:
    """A cross-encoder from the embedding model's own encoder weights, validated by re-ranking the same
    held-out hybrid candidates."""
    from ragship.retrieve.rerank import CrossEncoderReranker

    out = engine.home.models / f"reranker-{digest[:10]}"
    training = crossencoder.train(engine.embedder.path, pairs, out, budget_s=budget_s, seed=seed,
                                  progress=progress)
    model = CrossEncoderReranker(str(out))
    validation = {"queries": len(queries),
                  "hybrid": _validate(searcher, queries, qrels, lambda text, hits: [h.score for h in hits]),
                  "reranked": _validate(searcher, queries, qrels,
                                        lambda text, hits: model.scores(text, _passages(hits)))}
    atomic_write_json(out / "ragship-adapt.json", {"training": training, "validation": validation,
                                                   "data_sha256": digest, "date": now()})
    return {"model_path": str(out), "training": training, "validation": validation}


def _data(root: Path, split: str, unsupervised: bool) -> tuple[Path, dict[str, str], dict[str, dict[str, int]]]:
    """The corpus to adapt on, and the labeled queries (none for unsupervised adaptation)."""
    if root.is_dir() and (root / "qrels" / f"{split}.tsv").is_file() and not unsupervised:
        ds = load_dataset(root, split)
        return ds.corpus_file, ds.queries, ds.qrels
    corpus = next((root / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (root / n).is_file()), None)
    if root.is_dir() and corpus is not None:
        return corpus, {}, {}
    if root.exists():
        return root, {}, {}
    raise DatasetError(f"{root}: not found; pass a BEIR folder (labeled) or a folder/file of documents")


def _validate(searcher, queries: dict[str, str], qrels, score) -> float:
    """nDCG@10 when `score(query, hits)` re-ranks each held-out query's hybrid top chunks. Every model is judged
    on the same candidates, so differences are the model's; a document counts as its best chunk."""
    run = {}
    for qid, text in queries.items():
        hits = searcher.search(text, "hybrid", VALIDATION_DEPTH).hits
        best: dict[str, float] = {}
        for h, s in zip(hits, score(text, hits)):
            best[h.doc_id] = max(best.get(h.doc_id, float("-inf")), float(s))
        run[qid] = best
    return round(retrieval_metrics(run, {q: qrels[q] for q in queries if q in qrels})["ndcg@10"], 4)


def _passages(hits) -> list[str]:
    return [f"{h.title}\n{h.text}" if h.title else h.text for h in hits]


def _by_embedder(embedder):
    """Cosine of the query and each hit, by this embedding model."""
    def score(text, hits):
        return embedder.embed_batch(_passages(hits)) @ np.asarray(embedder.embed_query(text), dtype=np.float32)

    return score


def with_model(settings: Settings, model: str) -> Settings:
    """`settings` with `embed.model` set to `model` (a model trained here)."""
    return settings.model_copy(update={"embed": settings.embed.model_copy(update={"model": model})})


def _hash(pairs: list[Pair]) -> str:
    h = hashlib.sha256()
    for p in pairs:
        h.update(json.dumps([p.query, p.positive, p.negative]).encode())
    return h.hexdigest()


def adapt_qa_model(engine: Adaptable, data: Path, *, extra: Path | None = None, epochs: int = 2,
                   batch_size: int = 16, lr: float = 1e-4, budget_s: float | None = None, seed: int = 0,
                   progress=None) -> dict[str, Any]:
    """Train a QA model (adapt/qa.py) from the embedding model's encoder weights on SQuAD 2.0-format `data`, and
    on `extra` NQ-style questions (adapt/nq.py) when given; saved in the home's models folder, named by the
    data's hash."""
    from ragship.adapt import qa

    digest = qa.sha256(data)
    if extra:  # both data sets name it (SQuAD's alone keeps the name it had)
        digest = hashlib.sha256((digest + qa.sha256(extra)).encode()).hexdigest()
    out = engine.home.models / f"reader-{digest[:10]}"
    report = qa.train(engine.embedder.path, data, out, epochs=epochs, batch_size=batch_size, lr=lr,
                      budget_s=budget_s, seed=seed, extra=extra, progress=progress)
    return {"model_path": str(out), **report}

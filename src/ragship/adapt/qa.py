"""Train a QA model (answer/qa.py) from local BERT-style weights (the embedding model's MiniLM by default, with a
new 3-label token head) on SQuAD 2.0-format data. The loss: start/end cross-entropy with the [CLS] token as the
target of windows without the answer (SQuAD 2.0's recipe, which gives the span margin), plus binary cross-entropy
of the answerability logit at [CLS], its classes weighted to balance. Validation holds out whole articles (no
paragraph on both sides) and reports SQuAD 2.0's HasAns EM/F1 and NoAns accuracy at the answerability threshold
0, the ROC AUC of the answerability logit and of the span margin, and the threshold with the best overall F1.

Besides SQuAD's own unanswerable questions (written against their paragraph), each answerable training question
is also paired, with probability `other_paragraphs`, with another paragraph of its article that holds none of its
answers: the kind of unanswerable case retrieval produces (and CLAP NQ tests). Validation reports both that kind
and a harder one, the other paragraph most like the question; training on the harder kind (`closest`) did not
help on CLAP NQ (ADR 0014), so a random one stays the default.

With NQ-style questions (`extra`, adapt/nq.py) training is a curriculum: SQuAD first, then the NQ-style pairs with
a quarter of SQuAD's examples replayed, at 0.3 of the learning rate, for one epoch. Mixed into one pass from
the start, the NQ-style pairs kept the model from learning to read at all (ADR 0014)."""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import random
import re
import shutil
import string
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ragship.adapt import nq
from ragship.adapt.training import bound_memory, checkpoint_large, checkpoint_of, train_loop
from ragship.answer.qa import ANSWERABLE, END, MAX_ANSWER_TOKENS, MAX_LENGTH, START, STRIDE, QAModel, Reading, windows
from ragship.errors import DatasetError

CURRICULUM = {"replay": 0.25, "lr": 0.3}  # the NQ-style pass: SQuAD's share replayed, the learning rate's factor


def load_squad(path: Path) -> list[dict[str, Any]]:
    """SQuAD 2.0 JSON (a file, or a folder holding one *.json) → one dict per question."""
    if path.is_dir():
        found = sorted(path.glob("*.json"))
        if not found:
            raise DatasetError(f"{path}: no SQuAD 2.0 .json file in this folder")
        path = found[0]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError) as e:
        raise DatasetError(f"{path}: not SQuAD 2.0 JSON ({e}); expected data[].paragraphs[].qas[]") from None
    return [{"title": a["title"], "paragraph": f"{a['title']}#{n}", "context": p["context"], "question": q["question"],
             "answers": [x for x in q["answers"]], "impossible": bool(q.get("is_impossible"))}
            for a in data for n, p in enumerate(a["paragraphs"]) for q in p["qas"]]


def split_articles(examples: list[dict], every: int = 4) -> tuple[list[dict], list[dict]]:
    """(train, validation): every `every`-th article (sorted by title) is held out."""
    titles = sorted({e["title"] for e in examples})
    held = set(titles[every - 1::every])
    return [e for e in examples if e["title"] not in held], [e for e in examples if e["title"] in held]


def other_paragraph_negatives(examples: list[dict], share: float, seed: int, closest: bool = False) -> list[dict]:
    """Answerable questions paired with another paragraph of their article holding none of their answers: a random
    one, or with `closest` the one whose words are most like the question's (TF-IDF cosine), as retrieval would
    show it."""
    rng = random.Random(seed)
    by_title: dict[str, dict[str, str]] = collections.defaultdict(dict)  # title -> {paragraph id: its text}
    for e in examples:
        by_title[e["title"]][e["paragraph"]] = e["context"]
    out = []
    for e in examples:
        if e["impossible"] or rng.random() >= share:
            continue
        answers = {a["text"].lower() for a in e["answers"]}
        others = [c for p, c in by_title[e["title"]].items() if p != e["paragraph"]
                  and not any(a in c.lower() for a in answers)]
        if others:
            context = _closest(e["question"], others) if closest else rng.choice(others)
            out.append({**e, "context": context, "answers": [], "impossible": True})
    return out


def _closest(question: str, passages: list[str]) -> str:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectors = TfidfVectorizer(sublinear_tf=True).fit(passages + [question])
    scores = (vectors.transform(passages) @ vectors.transform([question]).T).toarray().ravel()
    return passages[int(np.argmax(scores))]


def features(tokenizer, examples: list[dict]) -> list[tuple]:
    """Training windows: (input_ids, attention_mask, token_type_ids, start, end); (0, 0) when no answer."""
    encoded = windows(tokenizer, [e["question"] for e in examples], [e["context"] for e in examples])
    out = []
    for w, i in enumerate(encoded["overflow_to_sample_mapping"]):
        e, seq = examples[i], encoded.sequence_ids(w)
        start = end = 0
        if not e["impossible"]:
            a = e["answers"][0]
            first, last = a["answer_start"], a["answer_start"] + len(a["text"])
            span = [t for t, (o, s) in enumerate(zip(encoded["offset_mapping"][w], seq))
                    if s == 1 and o[0] < last and o[1] > first]
            if span:  # a longer answer (CLAP NQ's are sentences) is taught as its first tokens
                start, end = span[0], min(span[-1], span[0] + MAX_ANSWER_TOKENS - 1)
        mask = encoded["attention_mask"][w]
        n = int(mask.sum())
        out.append((encoded["input_ids"][w][:n], mask[:n], encoded["token_type_ids"][w][:n], start, end))
    return out


def train(base_path: str, data: Path, out_dir: Path, *, epochs: int = 2, batch_size: int = 16, lr: float = 1e-4,
          warmup: float = 0.1, budget_s: float | None = None, seed: int = 0, other_paragraphs: float = 0.5,
          closest: bool = False, extra: Path | None = None,
          progress: Callable[[int, int, float], None] | None = None, bounded: bool = True) -> dict[str, Any]:
    """Train, save to `out_dir` (a Hugging Face token-classification folder) and validate; the report. `extra`: a
    folder of NQ-style questions with answer texts (adapt/nq.py), learned after `data` (CURRICULUM)."""
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    hf_logging.set_verbosity_error()  # the token head is new on purpose
    nq_training, nq_validation = nq.split(extra, seed) if extra else ([], [])
    training, validation = split_articles(load_squad(data))
    training += other_paragraph_negatives(training, other_paragraphs, seed, closest)
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    passes = _passes(training, nq_training, out_dir, epochs=epochs, lr=lr, seed=seed)
    batched = [_by_length(features(tokenizer, examples), batch_size, seed) for examples, *_ in passes]
    steps = [n * len(batches) for batches, (_, n, *_) in zip(batched, passes)]
    started, logs, source = time.monotonic(), [], base_path
    for k, ((examples, n, rate, target), batches) in enumerate(zip(passes, batched)):
        left = None if budget_s is None else max(1.0, budget_s - (time.monotonic() - started))
        shown = None if progress is None else functools.partial(_overall, progress, steps, k)
        logs.append(_phase(source, target, batches, epochs=n, batch_size=batch_size, lr=rate, warmup=warmup,
                           budget_s=left, seed=seed, progress=shown, bounded=bounded, tokenizer=tokenizer,
                           questions=len(examples), reuse=target != out_dir))
        source = str(target)
        if logs[-1]["stopped_by_budget"]:
            break
    if source != str(out_dir):  # the budget stopped the first pass: it serves until the same command continues it
        shutil.copytree(source, out_dir, dirs_exist_ok=True)
    elif extra:
        shutil.rmtree(passes[0][3])  # kept only for a run killed in the second pass
    report = {"training": {**logs[0], "epochs": epochs, "batch_size": batch_size, "lr": lr,
                           "other_paragraphs": other_paragraphs, "closest": closest, "seed": seed},
              **({"curriculum": {**logs[1], "replay": CURRICULUM["replay"], "lr": lr * CURRICULUM["lr"],
                                 "epochs": 1} if len(logs) > 1 else None} if extra else {}),
              **_validated(QAModel(str(out_dir)), validation, nq_validation, seed),
              **({"extra": str(extra), "extra_sha256": sha256(extra)} if extra else {}),
              "data": str(data), "data_sha256": sha256(data), "base_model": str(base_path),
              "max_length": MAX_LENGTH, "stride": STRIDE}
    (out_dir / "ragship-reader.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def _passes(training: list[dict], nq_training: list[dict], out_dir: Path, *, epochs: int, lr: float,
            seed: int) -> list[tuple[list[dict], int, float, Path]]:
    """(examples, epochs, learning rate, folder) of each training pass: SQuAD's; then, with NQ-style questions, theirs
    with a share of SQuAD's replayed (CURRICULUM), from the first pass's weights, saved aside until it ends."""
    if not nq_training:
        return [(training, epochs, lr, out_dir)]
    rng = random.Random(seed)
    replayed = [e for e in training if rng.random() < CURRICULUM["replay"]]
    return [(training, epochs, lr, out_dir.with_name(f".{out_dir.name}.squad")),
            (replayed + nq_training, 1, lr * CURRICULUM["lr"], out_dir)]


def _validated(model: QAModel, validation: list[dict], nq_validation: list[dict], seed: int) -> dict[str, Any]:
    read = functools.lru_cache(maxsize=None)(lambda q, c: model.read(q, [c])[0])  # answerables recur below
    answerable = [e for e in validation if not e["impossible"]]
    # CLAP NQ's kind of unanswerable: the held-out answerable questions against another paragraph (random, closest)
    other, closest_other = (other_paragraph_negatives(validation, 1.0, seed, c) for c in (False, True))
    return {"validation": validate(read, validation),
            "validation_other_paragraphs": validate(read, answerable + other),
            "validation_closest_paragraph": validate(read, answerable + closest_other),
            **({"validation_extra": validate(read, nq_validation)} if nq_validation else {})}


def _phase(source: str, out_dir: Path, batches: list[list[tuple]], *, tokenizer, questions: int, bounded: bool,
           reuse: bool, **loop: Any) -> dict[str, Any]:
    """One training pass over `batches` (of windows) from the weights at `source`, saved to `out_dir`; what happened.
    With `reuse`, a pass already saved whole with the same settings (a curriculum killed in its second pass) is not
    repeated."""
    from transformers import AutoModelForTokenClassification

    rows = [r for batch in batches for r in batch]
    done, settings = out_dir / "training.json", {k: loop[k] for k in ("epochs", "batch_size", "lr", "warmup", "seed")}
    settings["windows"] = len(rows)
    if reuse and done.is_file() and (saved := json.loads(done.read_text()))["settings"] == settings \
            and not saved["log"]["stopped_by_budget"]:
        return {**saved["log"], "reused": True}
    model = AutoModelForTokenClassification.from_pretrained(source, num_labels=3)
    checkpointed = bound_memory(model) if bounded else []
    answerable = sum(r[3] > 0 for r in rows)
    pos_weight = (len(rows) - answerable) / max(1, answerable)
    loop.pop("batch_size")  # the batches are made: the loop takes one at a time
    log = train_loop(model, batches, batch_loss(model, pos_weight, checkpointed), batch_size=1,
                     checkpoint=checkpoint_of(out_dir), **loop)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    log = {**log, "questions": questions, "windows": len(rows), "pos_weight": round(pos_weight, 3)}
    done.write_text(json.dumps({"settings": settings, "log": log}) + "\n")
    return log


def _overall(progress: Callable[[int, int, float], None], steps: list[int], k: int, step: int, total: int,
             loss: float) -> None:
    """Pass `k`'s progress on as the whole run's: the passes before it done, those after it still to do."""
    progress(sum(steps[:k]) + step, sum(steps[:k]) + total + sum(steps[k + 1:]), loss)


def batch_loss(model, pos_weight: float = 1.0, checkpointed: Sequence = ()) -> Callable[[list[list[tuple]]], Any]:
    """The loss of one length-bucketed batch (train_loop hands it over as a list of one): span cross-entropy plus
    the answerability head's binary cross-entropy, its answerable class weighted by `pos_weight`. The
    `checkpointed` layers (bound_memory's) are checkpointed for large batches only."""
    import torch
    from torch.nn import functional

    def loss_of(one: list[list[tuple]]):
        batch = one[0]
        width = max(len(r[0]) for r in batch)
        checkpoint_large(checkpointed, len(batch) * width)

        def padded(k: int):
            return torch.tensor(np.stack([np.pad(r[k], (0, width - len(r[k]))) for r in batch]))

        mask = padded(1)
        logits = model(input_ids=padded(0), attention_mask=mask, token_type_ids=padded(2)).logits.float()
        start, end = (logits[..., k].masked_fill(mask == 0, -1e4) for k in (START, END))
        starts, ends = torch.tensor([r[3] for r in batch]), torch.tensor([r[4] for r in batch])
        span = (functional.cross_entropy(start, starts) + functional.cross_entropy(end, ends)) / 2
        head = functional.binary_cross_entropy_with_logits(
            logits[:, 0, ANSWERABLE], (starts > 0).float(), pos_weight=torch.tensor(pos_weight))
        return span + head

    return loss_of


def _by_length(rows: list[tuple], size: int, seed: int) -> list[list[tuple]]:
    """Batches of windows of similar length (little padding to compute); the loop shuffles the batches."""
    rng = random.Random(seed)
    order = sorted(range(len(rows)), key=lambda i: (len(rows[i][0]), rng.random()))
    return [[rows[i] for i in order[k:k + size]] for k in range(0, len(order), size)]


def validate(read: Callable[[str, str], Reading], examples: list[dict]) -> dict[str, Any]:
    """SQuAD 2.0 metrics on `examples`, each read by `read(question, context)`: HasAns EM/F1 and NoAns accuracy at
    threshold 0, answerability ROC AUC, and the threshold with the best overall F1."""
    from sklearn.metrics import roc_auc_score

    scores, margins, f1s, ems = [], [], [], []
    for e in examples:
        r = read(e["question"], e["context"])
        golds = [a["text"] for a in e["answers"]]
        scores.append(r.answerability)
        margins.append(r.margin)
        f1s.append(max((_f1(r.text, g) for g in golds), default=0.0))
        ems.append(max((float(_normal(r.text) == _normal(g)) for g in golds), default=0.0))
    s, answerable = np.array(scores), np.array([not e["impossible"] for e in examples])
    f1, em = np.array(f1s), np.array(ems)
    best = max(np.unique(np.r_[s, 0.0]), key=lambda t: _overall_f1(s, answerable, f1, t))
    said = s[answerable] > 0  # an answerable question the model declined scores 0
    return {"questions": len(examples), "answerable": int(answerable.sum()),
            "has_ans_em": round(float(np.mean(np.where(said, em[answerable], 0))), 4),
            "has_ans_f1": round(float(np.mean(np.where(said, f1[answerable], 0))), 4),
            "no_ans_accuracy": round(float(np.mean(s[~answerable] <= 0)), 4),
            "answerability_auc": round(float(roc_auc_score(answerable, s)), 4),
            "span_margin_auc": round(float(roc_auc_score(answerable, margins)), 4),
            "best_threshold": round(float(best), 3),
            "best_overall_f1": round(_overall_f1(s, answerable, f1, best), 4)}


def _overall_f1(s: np.ndarray, answerable: np.ndarray, f1: np.ndarray, threshold: float) -> float:
    said = s > threshold
    return float(np.mean(np.where(answerable, np.where(said, f1, 0.0), (~said).astype(float))))


def _normal(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _f1(prediction: str, gold: str) -> float:
    p, g = _normal(prediction).split(), _normal(gold).split()
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if not p or not g or not common:
        return float(p == g)
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def sha256(path: Path) -> str:
    files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".tsv")) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()

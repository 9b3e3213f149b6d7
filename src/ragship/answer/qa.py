"""The QA model: an extractive question-answering model with its own answerability head. One encoder pass over a
question+passage window gives, per token, three logits (a token-classification model with 3 labels, so the real
Hugging Face loader reads it): the answer's start, its end, and — at the [CLS] token — "this window answers the
question" (a binary logit, > 0 leans answered). For a question and a few passages it returns, per passage, the
answerability and the best span of its most answerable window, and the SQuAD 2.0 span margin (best span's
start+end minus [CLS]'s). Trained by `ragship adapt --qa-model` (adapt/qa.py) from the MiniLM weights."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_LENGTH = 256  # question + passage tokens per window (most SQuAD paragraphs fit one)
STRIDE = 96  # tokens shared by consecutive windows of a long passage
MAX_ANSWER_TOKENS = 30
START, END, ANSWERABLE = range(3)  # the model's three labels


@dataclass
class Reading:
    passage: int  # index in the passages read
    answerability: float  # the answerability head's logit: > 0 leans "answered here"
    start: int  # the span's characters in the passage (-1, -1 when there is no span)
    end: int
    text: str
    margin: float = 0.0  # SQuAD 2.0's span score minus the no-answer ([CLS]) score


def windows(tokenizer, questions: list[str], passages: list[str], max_length: int = MAX_LENGTH,
            stride: int = STRIDE):
    """Question/passage pairs tokenized into overlapping windows, with each window's pair index and offsets."""
    return tokenizer(questions, passages, truncation="only_second", max_length=max_length, stride=stride,
                     return_overflowing_tokens=True, return_offsets_mapping=True, padding="longest",
                     return_tensors="np")


def best_spans(start: np.ndarray, end: np.ndarray, context: np.ndarray,
               max_tokens: int = MAX_ANSWER_TOKENS) -> tuple[float, float, int, int]:
    """For one window: (no-answer score, best span score, start token, end token) over passage tokens."""
    null = float(start[0] + end[0])
    s = np.where(context, start, -np.inf)
    e = np.where(context, end, -np.inf)
    scores = s[:, None] + e[None, :]
    n = len(start)
    band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=max_tokens)
    scores = np.where(band, scores, -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return null, float(scores[i, j]), int(i), int(j)


def training_summary(path: str) -> dict | None:
    """What a QA model folder's training report (ragship-reader.json) says it learned from, or None without one."""
    report = Path(path) / "ragship-reader.json"
    try:
        r = json.loads(report.read_text())
    except (OSError, ValueError):
        return None
    held_out = r.get("validation_extra") or r.get("validation_other_paragraphs") or {}
    return {"data": [Path(d).name for d in (r.get("data"), r.get("extra")) if d],
            "epochs": r.get("training", {}).get("epochs"), "held_out_auc": held_out.get("answerability_auc")}


class QAModel:
    def __init__(self, path: str, threads: int | None = None):
        import torch
        from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

        from ragship.errors import ConfigError

        if not Path(path).is_dir():
            raise ConfigError(f"answer.qa_model = {path!r}: no such model folder; train one with "
                              "`ragship adapt --qa-model DATA` or clear answer.qa_model")
        if AutoConfig.from_pretrained(path).num_labels != 3:
            raise ConfigError(f"answer.qa_model = {path!r} is not a ragship QA model (3 labels: start, end, "
                              "answerable); train one with `ragship adapt --qa-model DATA`")
        if threads:
            torch.set_num_threads(threads)
        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForTokenClassification.from_pretrained(path).eval()

    def logits(self, encoded) -> np.ndarray:
        """Per window and token: (start, end, answerable) logits."""
        import torch

        inputs = {k: torch.as_tensor(encoded[k]) for k in ("input_ids", "attention_mask", "token_type_ids")
                  if k in encoded}
        with torch.inference_mode():
            return self.model(**inputs).logits.float().numpy()

    def read(self, question: str, passages: list[str]) -> list[Reading]:
        """One Reading per passage (the best of its windows)."""
        if not passages:
            return []
        encoded = windows(self.tokenizer, [question] * len(passages), passages)
        logits = self.logits(encoded)
        best: dict[int, Reading] = {}
        for w, p in enumerate(encoded["overflow_to_sample_mapping"]):
            context = np.asarray(encoded.sequence_ids(w)) == 1
            null, score, i, j = best_spans(logits[w, :, START], logits[w, :, END], context)
            offsets = encoded["offset_mapping"][w]
            reading = Reading(int(p), float(logits[w, 0, ANSWERABLE]), int(offsets[i][0]), int(offsets[j][1]),
                              passages[p][offsets[i][0]:offsets[j][1]], score - null)
            if int(p) not in best or reading.answerability > best[int(p)].answerability:
                best[int(p)] = reading
        return [best[p] for p in sorted(best)]

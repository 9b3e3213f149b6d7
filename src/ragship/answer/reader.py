"""A reader: an extractive question-answering model with a no-answer decision, in the SQuAD 2.0 style. For a
question and a few passages it returns, per passage, the best answer span and an answerability score: the best
span's start+end logit minus the no-answer ([CLS]) logit, the quantity SQuAD 2.0 systems threshold. Trained by
`ragship adapt --reader` (adapt/reader.py) from the MiniLM weights; loaded from a path like every model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_LENGTH = 256  # question + passage tokens per window (most SQuAD paragraphs fit one)
STRIDE = 96  # tokens shared by consecutive windows of a long passage
MAX_ANSWER_TOKENS = 30


@dataclass
class Reading:
    passage: int  # index in the passages read
    answerability: float  # best span score minus the no-answer score: > 0 leans "answered here"
    start: int  # the span's characters in the passage (-1, -1 when there is no span)
    end: int
    text: str


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


class Reader:
    def __init__(self, path: str, threads: int | None = None):
        import torch
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        if not Path(path).is_dir():
            from ragship.errors import ConfigError

            raise ConfigError(f"answer.reader = {path!r}: no such model folder; train one with "
                              "`ragship adapt --reader DATA` or clear answer.reader")
        if threads:
            torch.set_num_threads(threads)
        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForQuestionAnswering.from_pretrained(path).eval()

    def logits(self, encoded) -> tuple[np.ndarray, np.ndarray]:
        import torch

        inputs = {k: torch.as_tensor(encoded[k]) for k in ("input_ids", "attention_mask", "token_type_ids")
                  if k in encoded}
        with torch.inference_mode():
            out = self.model(**inputs)
        return out.start_logits.float().numpy(), out.end_logits.float().numpy()

    def read(self, question: str, passages: list[str]) -> list[Reading]:
        """One Reading per passage (the best of its windows)."""
        if not passages:
            return []
        encoded = windows(self.tokenizer, [question] * len(passages), passages)
        start, end = self.logits(encoded)
        best: dict[int, Reading] = {}
        for w, p in enumerate(encoded["overflow_to_sample_mapping"]):
            context = np.asarray(encoded.sequence_ids(w)) == 1
            null, score, i, j = best_spans(start[w], end[w], context)
            offsets = encoded["offset_mapping"][w]
            reading = Reading(int(p), score - null, int(offsets[i][0]), int(offsets[j][1]),
                              passages[p][offsets[i][0]:offsets[j][1]])
            if int(p) not in best or reading.answerability > best[int(p)].answerability:
                best[int(p)] = reading
        return [best[p] for p in sorted(best)]

"""Extractive answers: quote the sentences of the top chunks that best support the question, each cited.

A sentence's support blends semantic similarity to the question (the embedder's cosine) with lexical coverage
of the question's content terms. Without a `ragship calibrate` model, confidence is a logistic function of the
best sentence's two scores, fitted once on clapnq-dev (docs/decisions/0004); see calibrate.py for the full model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterator, Sequence

import numpy as np

from ragship.answer.base import Answer, Citation
from ragship.answer.prompt import NOT_FOUND
from ragship.answer.safety import is_instruction
from ragship.answer.support import QUESTION_SEMANTIC_WEIGHT, support
from ragship.embed.base import Embedder
from ragship.settings import AnswerSettings
from ragship.text import content_terms, paragraph_spans, quotable_in_context
from ragship.types import Hit

SELECT_RATIO = 0.85  # quote sentences scoring at least this fraction of the best one (ADR 0004)
# ... or this fraction, for a sentence from another chunk than the best one's: fewer, more precise citations;
# chosen on one dataset, clapnq-dev: citation precision 0.894 -> 0.926 (ADR 0008); not tuned elsewhere
OTHER_SOURCE_RATIO = 0.95
LIST_QUOTE_CHARS = 1200  # longest list or table quoted after a sentence that introduces it


@dataclass(frozen=True)
class Sentence:
    hit: int  # index into the hits
    start: int  # span within the hit's text
    end: int
    semantic: float
    lexical: float

    @property
    def support(self) -> float:
        return support(self.semantic, self.lexical, QUESTION_SEMANTIC_WEIGHT)


@dataclass(frozen=True)
class ConfidenceModel:
    """P(answerable) = σ(bias + w_sem · semantic + w_lex · lexical) of the best-supported sentence."""

    # fitted on one dataset: a logistic regression on clapnq-dev's tuning half (160 answerable, 134 unanswerable
    # questions, hybrid top 5 over its passages; ADR 0004). `ragship calibrate` fits one on the user's data.
    bias: float = -4.79
    w_semantic: float = 8.07
    w_lexical: float = 1.13

    def __call__(self, best: Sentence | None) -> float:
        if best is None:
            return 0.0
        z = self.bias + self.w_semantic * best.semantic + self.w_lexical * best.lexical
        return 1.0 / (1.0 + math.exp(-z))


class ExtractiveGenerator:
    """Scores the quotable sentences of the top chunks and composes an answer from the best ones. Instruction-like
    sentences (prompt injections) are never scored, so never quoted."""

    name = "extractive"

    def __init__(self, embedder: Embedder, settings: AnswerSettings):
        self.embedder, self.settings = embedder, settings

    def score_sentences(self, question: str, hits: list[Hit],
                        context: Sequence[tuple[str, float]] = ()) -> list[Sentence]:
        """Each quotable sentence's similarity and word coverage; `context` (a conversation's earlier turns with
        their weights, as searched) joins the question at its weights in both (ADR 0023)."""
        spans = [(i, c, s, e) for i, h in enumerate(hits) for c, s, e in quotable_in_context(h.text)
                 if not is_instruction(h.text[s:e])]
        if not spans:
            return []
        texts = [hits[i].text[c:e] for i, c, s, e in spans]  # read under its heading line, quoted without it
        q_terms = {t: 1.0 for t in content_terms(question)}
        query = np.asarray(self.embedder.embed_query(question), dtype=np.float32)
        for text, weight in context:
            for t in content_terms(text):
                q_terms[t] = max(q_terms.get(t, 0.0), weight)
            query = query + weight * np.asarray(self.embedder.embed_query(text), dtype=np.float32)
        if context:
            query = query / (np.linalg.norm(query) or 1.0)
        total = sum(q_terms.values())
        vectors = self.embedder.embed_batch(texts)
        semantic = vectors @ query
        return [
            Sentence(i, s, e, float(sim), sum(w for t, w in q_terms.items() if t in words) / total if total else 0.0)
            for (i, _, s, e), sim, words in zip(spans, semantic, map(content_terms, texts))
        ]

    def draft(self, question: str, hits: list[Hit]) -> str:
        """The Generator interface: the quoted sentences, each followed by [n] for its hit (1-based), or NOT FOUND
        when no sentence of the hits can be quoted."""
        sentences = self.score_sentences(question, hits)
        if not sentences:
            return NOT_FOUND
        quoted = [_with_list(s, hits[s.hit].text) for s in self.choose(sentences)]
        return " ".join(f"{hits[s.hit].text[s.start:s.end]} [{s.hit + 1}]" for s in quoted)

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str]:
        yield self.draft(question, hits)  # quotes are known at once: one piece

    def choose(self, sentences: list[Sentence]) -> list[Sentence]:
        """The sentences scoring at least SELECT_RATIO of the best (at most max_sentences), best first; a second
        source only for a sentence nearly as good as the best (fewer, more precise citations)."""
        top = max(sentences, key=lambda s: s.support)
        chosen = [s for s in sorted(sentences, key=lambda s: -s.support)
                  if s.support >= (SELECT_RATIO if s.hit == top.hit else OTHER_SOURCE_RATIO) * top.support]
        return chosen[: self.settings.max_sentences]

    def compose(self, question: str, hits: list[Hit], sentences: list[Sentence], confidence: float,
                focus=None) -> Answer:
        """The answer quoting `choose(sentences)` — or, given a reader's `focus` (a Reading: passage, start, end),
        only those of them holding its span — numbered in order of first citation, with quoted spans."""
        numbers: dict[int, int] = {}
        quotes: dict[int, list[tuple[int, int]]] = {}
        parts = []
        chosen = self.choose(sentences)
        for s in [s for s in holding(sentences, focus) if s in chosen] or chosen:
            n = numbers.setdefault(s.hit, len(numbers) + 1)
            h = hits[s.hit]
            s = _with_list(s, h.text)
            quotes.setdefault(s.hit, []).append((h.start + s.start, h.start + s.end))
            parts.append(f"{h.text[s.start:s.end]} [{n}]")
        citations = [Citation.from_hit(n, hits[i], tuple(quotes[i])) for i, n in numbers.items()]
        return Answer(question, " ".join(parts), False, confidence, citations, generator=self.name)


def holding(sentences: list[Sentence], focus) -> list[Sentence]:
    """The quotable sentences of the focus's passage that overlap its span, in reading order."""
    if focus is None or focus.start < 0:
        return []
    return sorted((s for s in sentences if s.hit == focus.passage and s.start < focus.end and s.end > focus.start),
                  key=lambda s: s.start)


def _with_list(s: Sentence, text: str) -> Sentence:
    """A sentence that introduces a list or table ("Supported file types:") is quoted with it."""
    if not text[s.start:s.end].endswith(":"):
        return s
    following = next(paragraph_spans(text, s.end), None)
    if following is None or following[1] - s.start > LIST_QUOTE_CHARS:
        return s
    return replace(s, end=following[1])

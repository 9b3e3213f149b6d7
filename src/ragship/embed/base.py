"""The Embedder protocol: one method to write, `embed_batch`; `embed_query` and `token_spans` are built on it and
overridden where a model does better (query prefixes, a faster single-query path, its own tokenizer).
tests/embed/test_conformance.py runs the same checks on every implementation."""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]")


@runtime_checkable
class Embedder(Protocol):
    model_id: str  # names the exact weights; part of every cache key and index version

    @property
    def dim(self) -> int:
        """The vectors' length (an implementation may load its model to know it)."""
        ...

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(texts), dim)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector (models with query prefixes add them here)."""
        return self.embed_batch([text])[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Query vectors for several texts at once (a conversation's earlier turns), shape (len(texts), dim); as
        embed_query gives them, in one call where the model can batch them."""
        return np.stack([self.embed_query(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the model's tokens in text (for token-aware chunking); words and punctuation
        unless the model brings its tokenizer."""
        return [m.span() for m in _TOKEN.finditer(text)]

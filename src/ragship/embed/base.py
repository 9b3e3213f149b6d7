"""The Embedder protocol: one required method, `embed_batch`; queries and tokenization ride on it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    model_id: str  # names the exact weights; part of every cache key and index version
    dim: int

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(texts), dim)."""

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector (models with query prefixes add them here)."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the model's tokens in text (for token-aware chunking)."""

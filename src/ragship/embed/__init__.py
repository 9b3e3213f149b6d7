"""Embedding models (loaded lazily, once) and the embedding cache. Knows models, not storage."""

from ragship.embed.base import Embedder
from ragship.embed.cache import CachedEmbedder, EmbeddingCache
from ragship.embed.sentence_transformers import SentenceTransformerEmbedder

__all__ = ["Embedder", "CachedEmbedder", "EmbeddingCache", "SentenceTransformerEmbedder"]

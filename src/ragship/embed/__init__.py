"""Embedding models (loaded lazily, once) and the embedding cache. Knows models, not storage.

The Embedder protocol (base.py); sentence-transformers (sentence_transformers.py), ONNX Runtime (onnx.py) and
OpenVINO (openvino.py) backends; the encoder path chosen per machine (paths.py); where a model name resolves on
disk (resolve.py); the cache (cache.py); building the configured embedder (factory.py)."""

from ragship.embed.base import Embedder
from ragship.embed.cache import CachedEmbedder, EmbeddingCache
from ragship.embed.sentence_transformers import SentenceTransformerEmbedder

__all__ = ["Embedder", "CachedEmbedder", "EmbeddingCache", "SentenceTransformerEmbedder"]

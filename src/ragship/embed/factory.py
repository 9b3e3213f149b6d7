"""Build the configured embedder (with its cache): one place for the engine and for Ray workers."""

from __future__ import annotations

from pathlib import Path

from ragship.embed.cache import CachedEmbedder, EmbeddingCache
from ragship.settings import EmbedSettings


def make_embedder(e: EmbedSettings, cache_dir: Path) -> CachedEmbedder:
    if e.backend == "onnx-int8":
        from ragship.embed.onnx import OnnxInt8Embedder

        model = OnnxInt8Embedder(e.model, cache_dir, batch_size=e.batch_size, query_threads=e.query_threads)
    else:
        from ragship.embed.sentence_transformers import SentenceTransformerEmbedder

        model = SentenceTransformerEmbedder(e.model, batch_size=e.batch_size, device=e.device,
                                            query_threads=e.query_threads, precision=e.precision,
                                            query_backend=e.query_backend, query_onnx_threads=e.query_onnx_threads,
                                            query_precision=e.query_precision)
    return CachedEmbedder(model, EmbeddingCache(Path(cache_dir) / "embeddings.sqlite"))

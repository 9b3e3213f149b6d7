"""Build the configured embedder (with its cache): one place for the engine and for Ray workers."""

from __future__ import annotations

from pathlib import Path

from ragship.embed.base import Embedder
from ragship.embed.cache import CachedEmbedder, EmbeddingCache
from ragship.embed.resolve import resolve_model
from ragship.embed.onnx import artifact_dir
from ragship.embed.paths import Choice, choose, path_of
from ragship.settings import EmbedSettings


def make_embedder(e: EmbedSettings, cache_dir: Path, built_with: str | None = None) -> CachedEmbedder:
    """The embedder for `e`. Under backend "auto" the path is this machine's measured choice, unless `built_with`
    (the model id of the version to serve or extend) names another: then that one, so vectors never mix."""
    choice = None
    if not e.measured:
        path, how = configured_path(e), f"embed.backend = {e.backend}, embed.precision = {e.precision}"
    else:
        choice = measured_choice(e)
        path, how = choice.path, "measured on this machine"
        built_on = path_of(built_with, fp32=_fp32_path(choice)) if built_with else path
        if built_on != path:
            path, how = built_on, "the path the index was built with"
    embedder = CachedEmbedder(build(path, e), EmbeddingCache(Path(cache_dir) / "embeddings.sqlite"))
    embedder.encoder = {"path": path, "chosen_by": how, "measured": choice.describe() if choice else None}
    return embedder


def measured_choice(e: EmbedSettings) -> Choice:
    """This machine's encoder path for `e.model`: cached, or measured now (once per model and machine)."""
    return choose(resolve_model(e.model).model_id, lambda p: build(p, e), artifact_dir(), e.auto_min_cosine, e.device)


def configured_path(e: EmbedSettings) -> str:
    """The path an explicit backend names; "torch" (or "auto" with a set precision) takes embed.precision."""
    if e.backend in ("torch", "auto"):
        from ragship.embed.sentence_transformers import resolve_precision

        return f"torch-{resolve_precision(e.precision, e.device)}"
    return e.backend


def settings_for(path: str, e: EmbedSettings) -> EmbedSettings:
    """`e` with the backend and precision that name `path` (what Ray workers get: the driver's path, unmeasured)."""
    library, precision = path.split("-")
    if library == "torch":
        return e.model_copy(update={"backend": "torch", "precision": precision})
    return e.model_copy(update={"backend": path})


def build(path: str, e: EmbedSettings) -> Embedder:
    """The bare embedder of one path (embed/paths.py PATHS)."""
    library, precision = path.split("-")
    if library == "onnx":
        from ragship.embed.onnx import OnnxEmbedder

        return OnnxEmbedder(e.model, precision=precision, batch_size=e.batch_size, query_threads=e.query_threads)
    if library == "ov":
        from ragship.embed.openvino import OpenVinoEmbedder

        return OpenVinoEmbedder(e.model, precision=precision, batch_size=e.batch_size,
                                query_threads=e.query_onnx_threads)
    from ragship.embed.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(e.model, batch_size=e.batch_size, device=e.device,
                                       query_threads=e.query_threads, precision=precision,
                                       query_backend=e.query_backend, query_onnx_threads=e.query_onnx_threads,
                                       query_precision=e.query_precision)


def _fp32_path(choice: Choice) -> str:
    """Of the two fp32 paths (same vectors), the one measured faster here."""
    fp32 = [t for t in choice.trials if t.path.endswith("fp32") and not t.refused]
    return max(fp32, key=lambda t: t.texts_per_s).path if fp32 else "torch-fp32"


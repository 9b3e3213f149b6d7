"""Fine-tune a sentence-transformers bi-encoder with the multiple-negatives ranking loss (Henderson et al.,
2017): each query must score its positive above every other passage in the batch, its hard negative included."""

from __future__ import annotations

import gc
from functools import partial
from pathlib import Path
from typing import Callable

from ragship.adapt.training import bound_memory, checkpoint_of, train_loop
from ragship.adapt.pairs import Pair

SCALE = 20.0  # cosine similarities times this are the logits (sentence-transformers' default for this loss)


def train(model_path: str, pairs: list[Pair], out_dir: Path, *, epochs: int = 1, batch_size: int = 32,
          lr: float = 2e-5, warmup: float = 0.1, budget_s: float | None = None, seed: int = 0,
          progress: Callable[[int, int, float], None] | None = None, bounded: bool = True) -> dict:
    """Train on `pairs`, save to `out_dir`; returns what happened (steps, loss, seconds, stopped early)."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    model = SentenceTransformer(model_path, device="cpu")
    if bounded:
        bound_memory(model[0].auto_model)

    loss_of = partial(_loss, model)
    log = train_loop(model, pairs, loss_of, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup,
                     budget_s=budget_s, seed=seed, progress=progress, checkpoint=checkpoint_of(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    del model, loss_of
    gc.collect()  # the model sits in reference cycles: freed now, not after the caller's next step (~90 MB)
    return log


def _encode(model, texts: list[str]):
    import torch

    features = model.tokenizer(texts, padding=True, truncation=True, max_length=model.max_seq_length,
                               return_tensors="pt")
    return torch.nn.functional.normalize(model(dict(features))["sentence_embedding"].float(), dim=-1)


def _loss(model, batch: list[Pair]):
    """The batch's multiple-negatives ranking loss: each query against every positive and hard negative."""
    import torch

    q = _encode(model, [p.query for p in batch])
    d = _encode(model, [p.positive for p in batch] + [p.negative for p in batch])
    return torch.nn.functional.cross_entropy(SCALE * q @ d.T, torch.arange(len(batch)))

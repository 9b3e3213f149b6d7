"""Fine-tune a sentence-transformers bi-encoder with the multiple-negatives ranking loss (Henderson et al.,
2017): each query must score its positive above every other passage in the batch, its hard negative included.
A plain PyTorch loop (AdamW, linear warm-up and decay, gradient clipping), under bf16 autocast where the CPU
computes bf16 natively; it stops early, keeping what it learned, when the time budget runs out."""

from __future__ import annotations

import contextlib
import math
import random
import time
from pathlib import Path
from typing import Callable

from ragship.adapt.pairs import Pair
from ragship.embed.sentence_transformers import cpu_has_native_bf16

SCALE = 20.0  # cosine similarities times this are the logits (sentence-transformers' default for this loss)


def train(model_path: str, pairs: list[Pair], out_dir: Path, *, epochs: int = 1, batch_size: int = 32,
          lr: float = 2e-5, warmup: float = 0.1, budget_s: float = 900.0, seed: int = 0,
          progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Train on `pairs`, save to `out_dir`; returns what happened (steps, loss, seconds, stopped early)."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    model = SentenceTransformer(model_path, device="cpu")
    model.train()
    batches_per_epoch = math.ceil(len(pairs) / batch_size)
    total = max(1, epochs * batches_per_epoch)
    warm = max(1, int(total * warmup))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if cpu_has_native_bf16() else contextlib.nullcontext()
    rng, start, step, losses, stopped = random.Random(seed), time.monotonic(), 0, [], False

    def encode(texts: list[str]):
        features = model.tokenizer(texts, padding=True, truncation=True, max_length=model.max_seq_length,
                                   return_tensors="pt")
        return torch.nn.functional.normalize(model(dict(features))["sentence_embedding"].float(), dim=-1)

    for _ in range(epochs):
        order = pairs[:]
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            batch = order[i:i + batch_size]
            with autocast:
                q = encode([p.query for p in batch])
                d = encode([p.positive for p in batch] + [p.negative for p in batch])
            loss = torch.nn.functional.cross_entropy(SCALE * q @ d.T, torch.arange(len(batch)))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            losses.append(loss.item())
            if progress:
                progress(step, total, losses[-1])
            if time.monotonic() - start > budget_s:
                stopped = True
                break
        if stopped:
            break
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    return {"steps": step, "planned_steps": total, "first_loss": round(losses[0], 4) if losses else None,
            "last_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4) if losses else None,
            "seconds": round(time.monotonic() - start, 1), "stopped_by_budget": stopped}

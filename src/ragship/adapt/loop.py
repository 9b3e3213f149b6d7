"""The training loop both trainers share: AdamW, linear warm-up then linear decay, gradient clipping, bf16
autocast where the CPU computes bf16 natively, a progress callback, and a time budget that stops early keeping
what was learned."""

from __future__ import annotations

import contextlib
import math
import random
import time
from typing import Callable, Sequence, TypeVar

from ragship.cpu import cpu_has_native_bf16

T = TypeVar("T")


MMAP_THRESHOLD = 1 << 20  # bytes: larger allocations get their own mapping, returned to the system when freed


def bound_memory(model=None, checkpointing: bool = True) -> None:
    """Keep training's memory flat: (1) glibc serves allocations above 1 MB by mmap and unmaps them when freed —
    its adaptive threshold otherwise climbs, and the batches' differently shaped activations pile up in the heap
    as free but unreturned memory; (2) gradient checkpointing, where the model has it: layer activations are
    recomputed in the backward pass instead of kept (about a third more compute for a fraction of the memory)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD (a fixed value also stops the adaptation)
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD: give back free heap above 64 MB
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass
    if not checkpointing or not getattr(model, "supports_gradient_checkpointing", False):
        return
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 (the old name goes in v6)
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    elif hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def train_loop(model, examples: Sequence[T], loss_of: Callable[[list[T]], object], *, epochs: int, batch_size: int,
               lr: float, warmup: float, budget_s: float | None, seed: int,
               progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Run `loss_of(batch)` over shuffled batches of `examples` for `epochs` (every planned step, so the result
    does not depend on how busy the machine is; or until `budget_s` seconds, when given); returns what happened."""
    import torch

    torch.manual_seed(seed)
    model.train()
    total = max(1, epochs * math.ceil(len(examples) / batch_size))
    warm = max(1, int(total * warmup))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if cpu_has_native_bf16() else contextlib.nullcontext()
    rng, start, losses, stopped = random.Random(seed), time.monotonic(), [], False
    order = list(examples)
    for _ in range(epochs):
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            with autocast:
                loss = loss_of(order[i:i + batch_size])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            if progress:
                progress(len(losses), total, losses[-1])
            if budget_s is not None and time.monotonic() - start > budget_s:
                stopped = True
                break
        if stopped:
            break
    model.eval()
    return {"steps": len(losses), "planned_steps": total, "first_loss": round(losses[0], 4) if losses else None,
            "last_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4) if losses else None,
            "seconds": round(time.monotonic() - start, 1), "stopped_by_budget": stopped}

"""The training loop the trainers share: AdamW, linear warm-up then linear decay, gradient clipping, bf16
autocast where the CPU computes bf16 natively, a progress callback, an optional time budget that stops early
keeping what was learned, and a checkpoint a killed or stopped run continues from."""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from ragship.cpu import cpu_has_native_bf16

T = TypeVar("T")
log = logging.getLogger(__name__)


MMAP_THRESHOLD = 1 << 20  # bytes: larger allocations get their own mapping, returned to the system when freed


CHECKPOINT_ABOVE_TOKENS = 2048  # a smaller batch (16 windows of 128) trains without checkpointing, a third faster;
# the reader's whole run then peaks at 2.92 GB instead of 2.39 (ADR 0014, session 25)


def bound_memory(model=None, checkpointing: bool = True) -> list:
    """Keep training's memory flat: (1) glibc serves allocations above 1 MB by mmap and unmaps them when freed —
    its adaptive threshold otherwise climbs, and the batches' differently shaped activations pile up in the heap
    as free but unreturned memory; (2) gradient checkpointing, where the model has it: layer activations are
    recomputed in the backward pass instead of kept (about a third more compute for a fraction of the memory).
    Returns the checkpointed layers, for `checkpoint_large`."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD (a fixed value also stops the adaptation)
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD: give back free heap above 64 MB
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass
    if not checkpointing or not getattr(model, "supports_gradient_checkpointing", False):
        return []
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 (the old name goes in v6)
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    elif hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return [m for m in model.modules() if getattr(m, "gradient_checkpointing", False) is True]


def checkpoint_large(layers: Sequence, tokens: int) -> None:
    """Checkpoint `layers` (bound_memory's) for the next batch only if it holds more than CHECKPOINT_ABOVE_TOKENS
    tokens: the memory bound is set by the largest batches, and the small ones train faster without."""
    for layer in layers:
        layer.gradient_checkpointing = tokens > CHECKPOINT_ABOVE_TOKENS


CHECKPOINT_EVERY_S = 60.0  # a killed run loses at most this much training


def checkpoint_of(out_dir: Path) -> Path:
    """Where the training of `out_dir` keeps its state (the folder is named by the data: same data, same file)."""
    return out_dir.with_name(f".{out_dir.name}.training.pt")


def train_loop(model, examples: Sequence[T], loss_of: Callable[[list[T]], Any], *, epochs: int, batch_size: int,
               lr: float, warmup: float, budget_s: float | None, seed: int,
               progress: Callable[[int, int, float], None] | None = None, checkpoint: Path | None = None) -> dict:
    """Run `loss_of(batch)` over shuffled batches of `examples` for `epochs` (every planned step, so the result
    does not depend on how busy the machine is; or until `budget_s` seconds, when given); returns what happened.
    With `checkpoint` (a file named by the data, e.g. next to the output folder) the run's state is saved there
    every CHECKPOINT_EVERY_S and when the budget stops it, and a run of the same data and settings continues from
    it: the same batches, in the same order, from the step it had reached. It is removed when the run ends."""
    import torch

    torch.manual_seed(seed)
    model.train()
    total = max(1, epochs * math.ceil(len(examples) / batch_size))
    warm = max(1, int(total * warmup))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if cpu_has_native_bf16() else contextlib.nullcontext()
    key = [len(examples), epochs, batch_size, lr, warmup, seed]
    run = _Run(random.Random(seed), list(range(len(examples))))
    resumed = _restore(checkpoint, key, run, model, optimizer, schedule)
    start, stopped, saved_at = time.monotonic(), False, time.monotonic()
    for epoch in range(run.epoch, epochs):
        if not (resumed and epoch == run.epoch):
            run.rng.shuffle(run.order)
            run.position = 0
        run.epoch = epoch
        while run.position < len(run.order):
            batch = [examples[j] for j in run.order[run.position:run.position + batch_size]]
            with autocast:
                loss = loss_of(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            run.losses.append(loss.item())
            run.position += batch_size
            stopped = budget_s is not None and time.monotonic() - start > budget_s
            if checkpoint and (stopped or time.monotonic() - saved_at > CHECKPOINT_EVERY_S):
                _save(checkpoint, key, run, model, optimizer, schedule)
                saved_at = time.monotonic()
            if progress:
                progress(len(run.losses), total, run.losses[-1])
            if stopped:
                break
        if stopped:
            break
    model.eval()
    if checkpoint and not stopped:
        checkpoint.unlink(missing_ok=True)
    losses = run.losses
    return {"steps": len(losses), "planned_steps": total, "first_loss": round(losses[0], 4) if losses else None,
            "last_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4) if losses else None,
            "seconds": round(time.monotonic() - start, 1), "stopped_by_budget": stopped,
            "resumed_at_step": run.resumed_at}


@dataclass
class _Run:
    """Where a run is: the shuffling's state, this epoch's order, the next batch's position, the losses."""

    rng: random.Random
    order: list[int]
    epoch: int = 0
    position: int = 0
    losses: list[float] = field(default_factory=list)
    resumed_at: int | None = None


def _save(path: Path, key: list, run: _Run, model, optimizer, schedule) -> None:
    import torch

    state = {"key": key, "epoch": run.epoch, "position": run.position, "order": run.order, "losses": run.losses,
             "rng": run.rng.getstate(), "torch_rng": torch.get_rng_state(), "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}
    part = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, part)
    part.replace(path)  # a kill while saving leaves the previous checkpoint whole


def _restore(path: Path | None, key: list, run: _Run, model, optimizer, schedule) -> bool:
    """Continue from `path` when it holds a run of the same data and settings; False (a fresh run) otherwise."""
    import torch

    if path is None or not path.exists():
        return False
    try:
        state = torch.load(path, weights_only=False)
    except Exception as e:  # noqa: BLE001 - a damaged checkpoint costs the time it saved, never the run
        log.warning("%s cannot be read (%s): training from the start", path, e)
        return False
    if state.get("key") != key:
        return False
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    torch.set_rng_state(state["torch_rng"])
    run.rng.setstate(state["rng"])
    run.order, run.epoch, run.position, run.losses = state["order"], state["epoch"], state["position"], state["losses"]
    run.resumed_at = len(run.losses)
    log.warning("continuing the training saved in %s from step %d", path, run.resumed_at)
    return True

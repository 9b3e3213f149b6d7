"""Train a cross-encoder reranker from local BERT-style weights (by default the embedding model's own MiniLM
encoder, with a new one-logit head): binary cross-entropy on (query, positive) = 1 and (query, hard negative) = 0
pairs, under bf16 autocast where the CPU computes bf16 natively. Saved as a Hugging Face sequence-classification
folder, which sentence-transformers' CrossEncoder loads."""

from __future__ import annotations

import contextlib
import math
import random
import time
from pathlib import Path
from typing import Callable

from ragship.adapt.pairs import Pair
from ragship.embed.sentence_transformers import cpu_has_native_bf16

MAX_LENGTH = 256


def train(base_path: str, pairs: list[Pair], out_dir: Path, *, epochs: int = 2, batch_size: int = 16,
          lr: float = 3e-5, warmup: float = 0.1, budget_s: float = 900.0, seed: int = 0,
          progress: Callable[[int, int, float], None] | None = None) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    hf_logging.set_verbosity_error()  # "some weights were newly initialised" is the point here
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForSequenceClassification.from_pretrained(base_path, num_labels=1)
    model.train()
    examples = [(p.query, p.positive, 1.0) for p in pairs] + [(p.query, p.negative, 0.0) for p in pairs]
    total = max(1, epochs * math.ceil(len(examples) / batch_size))
    warm = max(1, int(total * warmup))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if cpu_has_native_bf16() else contextlib.nullcontext()
    rng, start, step, losses, stopped = random.Random(seed), time.monotonic(), 0, [], False
    for _ in range(epochs):
        rng.shuffle(examples)
        for i in range(0, len(examples), batch_size):
            batch = examples[i:i + batch_size]
            features = tokenizer([q for q, _, _ in batch], [d for _, d, _ in batch], padding=True,
                                 truncation="only_second", max_length=MAX_LENGTH, return_tensors="pt")
            with autocast:
                logits = model(**features).logits.float().view(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([y for *_, y in batch]))
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
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return {"steps": step, "planned_steps": total, "first_loss": round(losses[0], 4) if losses else None,
            "last_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4) if losses else None,
            "seconds": round(time.monotonic() - start, 1), "stopped_by_budget": stopped}

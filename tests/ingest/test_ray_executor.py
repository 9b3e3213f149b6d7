"""The Ray engine against a real two-node Ray cluster started by the test: the same index as the local engine."""

import numpy as np
import pytest

from conftest import DATA, make_engine

ray = pytest.importorskip("ray")


pytestmark = pytest.mark.xdist_group("ray")  # one Ray instance on the machine at a time (make test runs -n)


def same_vector(a, b) -> bool:
    """Equal up to the encoder path's batch noise: the workers batch chunks differently from the local engine, and
    bf16 paths round differently per batch shape (cosine >= 0.9999; float32 agreed to 1e-5). That the workers use
    the driver's path at all is checked by the build itself (their model id must be the driver's)."""
    return float(np.dot(a, b)) > 0.9999


def rows(engine):
    view = engine.store().view(engine.registry.live().id)
    table = view._table.search().select(["chunk_id", "doc_id", "start", "end", "text", "vector"]).limit(None)
    return {r["chunk_id"]: r for r in table.to_list()}


def test_ray_executor_builds_the_same_index_on_a_two_node_cluster(tmp_path, cache_dir, monkeypatch):
    """A real two-node Ray cluster on this machine (a head and a worker raylet): actors on both nodes, the documents
    passed through the object store (no shared spill file), written in batches; the same chunks, offsets, texts and
    vectors as the local engine, embedded by the driver's model path; nothing to do the second time."""
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    monkeypatch.setenv("RAGSHIP_RAY_ACTORS", "2")  # one actor per node: each has one CPU
    try:
        local = make_engine(tmp_path / "local", tmp_path / "cache-local")
        local.ingest([DATA / "docs"])
        on_ray = make_engine(tmp_path / "ray", tmp_path / "cache-ray", ingest={"write_batch": 2})
        report = on_ray.ingest([DATA / "docs"], executor="ray", ray_address=cluster.address)
        assert report.ray_nodes == 2 and report.added == 6
        assert report.chunks_embedded == report.chunks_written == report.chunks == local.status()["chunks"]
        assert on_ray.registry.live().model_id == local.registry.live().model_id  # the same path, measured once
        a, b = rows(local), rows(on_ray)
        assert sorted(a) == sorted(b)
        for chunk_id, row in a.items():
            assert (row["doc_id"], row["start"], row["end"], row["text"]) == \
                   (b[chunk_id]["doc_id"], b[chunk_id]["start"], b[chunk_id]["end"], b[chunk_id]["text"])
            assert same_vector(row["vector"], b[chunk_id]["vector"])
        again = on_ray.ingest([DATA / "docs"], executor="ray", ray_address=cluster.address)
        assert again.chunks_embedded == 0 and not again.new_version
        assert on_ray.search("night tram Lantern", "hybrid", 1).hits[0].doc_id == "docs/handbook/trams.md"
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_vectors_of_another_path_from_a_worker_are_refused(tmp_path, cache_dir):
    """A worker whose ragship or model differs from the driver's (another model id) stops the build."""
    from ragship.errors import ConfigError
    from ragship.ingest.ray_executor import RayBuild

    engine = make_engine(tmp_path / "home", cache_dir)
    build = RayBuild(engine.settings, engine.embedder, engine.store(), lambda *a: None, False, None)
    build._check_model({engine.embedder.model_id})
    with pytest.raises(ConfigError, match="install the same ragship and model on every node"):
        build._check_model({engine.embedder.model_id, "all-MiniLM-L6-v2@other+onnx-int8"})

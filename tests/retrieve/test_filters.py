"""Permission groups and metadata filters: applied inside every retriever's query, the SQL and the in-memory
mask agreeing, top-k filled from permitted chunks, hostile filter values harmless."""

import random

import pytest

from ragship.errors import QueryError
from ragship.retrieve.filters import Filter, filter_from_mapping, parse_filters
from ragship.retrieve.fusion import maximal_marginal_relevance

SECRETS = {"red": ["CRIMSON-KESTREL-4471", "RUBY-LANTERN-9902"], "blue": ["AZURE-OTTER-5183", "COBALT-HERON-7720"]}
MODES = ["dense", "bm25", "hybrid"]


def docs_of(engine, query, flt, mode="hybrid", k=50):
    return {h.doc_id.split("/")[1] for h in engine.search(query, mode, k, flt).hits}


@pytest.mark.parametrize("mode", MODES)
def test_a_reader_sees_only_public_and_their_groups_documents(teams_engine, mode):
    for groups, allowed in [((), {"public"}), (("red",), {"red", "public"}), (("blue",), {"blue", "public"}),
                            (("red", "blue"), {"red", "blue", "public"}), (("green",), {"public"})]:
        for query in ["launch", "billing database migration", *SECRETS["red"], *SECRETS["blue"]]:
            seen = docs_of(teams_engine, query, Filter(frozenset(groups)), mode)
            assert seen <= allowed, (groups, query, seen)


@pytest.mark.parametrize("mode", MODES)
def test_top_k_is_filled_from_permitted_chunks(teams_engine, mode):
    everything = teams_engine.search("launch", mode, 50).hits
    red = teams_engine.search("launch", mode, 50, Filter(frozenset({"red"}))).hits
    permitted = [h for h in everything if not h.doc_id.startswith("teams/blue/")]
    assert len(red) == len(permitted) > 0  # the filter ran before the top-k cut, not after it
    assert teams_engine.search("launch", mode, 1, Filter(frozenset({"red"}))).hits


def test_secrets_never_reach_text_of_an_unpermitted_reader(teams_engine):
    for group, other in [("red", "blue"), ("blue", "red")]:
        for secret in SECRETS[other]:
            for mode in MODES:
                text = " ".join(h.text + h.title for h in teams_engine.search(secret, mode, 50,
                                                                              Filter(frozenset({group}))).hits)
                assert secret not in text


def test_sql_and_in_memory_mask_select_the_same_rows(teams_engine):
    view = teams_engine.view()
    rows = view.rows(["chunk_id", "doc_id", "source", "groups", "tags"]).to_pylist()
    rng = random.Random(7)
    fields = [("team", ["red", "blue", "green"]), ("kind", ["ops", "billing", "x"]),
              ("doc_id", [r["doc_id"] for r in rows] + ["teams/red/*", "teams/*", "nope*"]),
              ("source", [rows[0]["source"], rows[0]["source"][:5] + "*", "/nowhere"]), ("format", ["md", "pdf"])]
    for _ in range(60):
        picked = rng.sample(fields, rng.randint(0, 3))
        flt = Filter(rng.choice([None, frozenset(), frozenset({"red"}), frozenset({"blue", "green"})]),
                     tuple((name, tuple(rng.sample(values, rng.randint(1, 2)))) for name, values in picked))
        where = flt.sql()
        by_sql = {r["chunk_id"] for r in view._table.search().where(where).select(["chunk_id"]).limit(None)
                  .to_list()} if where else {r["chunk_id"] for r in rows}
        mask = flt.mask(view.memory.columns)
        by_mask = set(view.memory.chunk_ids) if mask is None else \
            {c for c, m in zip(view.memory.chunk_ids, mask) if m}
        assert by_sql == by_mask, flt


def test_metadata_and_prefix_filters(teams_engine):
    flt = Filter(None, parse_filters(["team=blue"]))
    assert docs_of(teams_engine, "launch", flt) == {"blue"}
    assert docs_of(teams_engine, "launch", Filter(None, parse_filters(["kind=billing,nothing"]))) == {"blue"}
    assert docs_of(teams_engine, "launch", Filter(None, parse_filters(["doc_id=teams/public/*"]))) == {"public"}
    both = Filter(None, parse_filters(["doc_id=teams/red/*", "team=red"]))
    assert docs_of(teams_engine, "launch", both) == {"red"}
    # a permission filter still applies under a metadata filter that names the other group's documents
    red_reading_blue = Filter(frozenset({"red"}), parse_filters(["team=blue"]))
    assert not teams_engine.search("launch", "hybrid", 10, red_reading_blue).hits


@pytest.mark.parametrize("value", ["x') OR true OR ('", "red'] ) OR (1=1", "' OR 1=1 --", "*", "%", "\\\\'"])
def test_hostile_filter_values_match_nothing_unpermitted(teams_engine, value):
    for name in ("team", "doc_id", "source"):
        flt = Filter(frozenset({"red"}), ((name, (value,)),))
        for mode in MODES:
            assert docs_of(teams_engine, "billing launch", flt, mode) <= {"red", "public"}


def test_filters_parse_and_reject_clearly():
    assert parse_filters(["lang=en,de", "source=docs/*"]) == (("lang", ("en", "de")), ("source", ("docs/*",)))
    assert filter_from_mapping({"lang": ["en"], "team": "red"}) == (("lang", ("en",)), ("team", ("red",)))
    for bad, message in [("lang", "FIELD=VALUE"), ("la ng=en", "FIELD=VALUE"), ("lang=", "no value"),
                         ("lang=" + ",".join(map(str, range(101))), "limit is 100")]:
        with pytest.raises(QueryError, match=message):
            parse_filters([bad])
    with pytest.raises(QueryError, match="filter field"):
        filter_from_mapping({"a b": "x"})


def test_ann_search_applies_the_same_filter(teams_engine, tmp_path, cache_dir):
    """Above search.ann_min_rows the dense side runs in LanceDB's vector index with the SQL prefilter."""
    import shutil

    from conftest import make_engine

    home = tmp_path / "home"
    shutil.copytree(teams_engine.home.root, home)
    engine = make_engine(home, cache_dir)
    store = engine.store()
    assert store.build_vector_index(min_rows=1)
    store.commit_tag(engine.registry.live().id)
    assert engine.view().ann
    for groups, allowed in [(("red",), {"red", "public"}), ((), {"public"})]:
        assert docs_of(engine, "launch billing", Filter(frozenset(groups)), "dense") <= allowed
    exact = [h.chunk_id for h in teams_engine.search("billing outage", "dense", 5).hits]
    assert [h.chunk_id for h in engine.search("billing outage", "dense", 5).hits] == exact


def test_mmr_pushes_near_duplicates_down():
    import numpy as np

    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    near_a = np.array([0.995, 0.0999])
    vectors = np.stack([a, near_a / np.linalg.norm(near_a), b])
    assert maximal_marginal_relevance([1.0, 0.99, 0.8], vectors, 3, lam=1.0) == [0, 1, 2]
    assert maximal_marginal_relevance([1.0, 0.99, 0.8], vectors, 3, lam=0.5) == [0, 2, 1]


def test_search_with_mmr_keeps_permissions_and_size(teams_engine):
    flt = Filter(frozenset({"red"}))
    result = teams_engine.search("launch", "hybrid", 4, flt, mmr=0.3)
    assert len(result.hits) == 4 and "mmr" in result.timings_ms
    assert {h.doc_id.split("/")[1] for h in result.hits} <= {"red", "public"}
    with pytest.raises(QueryError, match="mmr"):
        teams_engine.search("launch", "hybrid", 4, mmr=1.5)


def test_changing_a_documents_groups_is_a_change(teams_engine, tmp_path, cache_dir):
    import shutil

    from conftest import DATA, make_engine

    shutil.copytree(DATA / "teams" / "public", tmp_path / "public")
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([tmp_path / "public"])
    assert {h.doc_id for h in engine.search("launch", "hybrid", 5, Filter(frozenset())).hits} == \
        {"public/faq.md", "public/handbook.md"}
    report = engine.ingest([tmp_path / "public"], groups=("staff",))
    assert report.changed == 2 and report.chunks_embedded == 0  # permissions changed; vectors reused
    assert not engine.search("launch", "hybrid", 5, Filter(frozenset())).hits
    assert engine.search("launch", "hybrid", 5, Filter(frozenset({"staff"}))).hits


def test_mmr_of_nothing_is_nothing(teams_engine):
    assert maximal_marginal_relevance([], [], 3, 0.5) == []
    assert teams_engine.search("zzzqqqxxx", "bm25", 1, mmr=0.0).hits == []


def test_filtered_bm25_by_overfetch_equals_the_prefiltered_query(teams_engine):
    """The in-memory shortcut must return what LanceDB's prefilter returns, scores included."""
    view = teams_engine.view()
    for groups in [frozenset(), frozenset({"red"}), frozenset({"blue"})]:
        flt = Filter(groups)
        mask = flt.mask(view.memory.columns)
        for query in ["launch", "billing database migration team", "relay"]:
            for n in (1, 3, 50):
                fast = view.bm25(query, n, flt.sql(), mask)
                exact = view.bm25(query, n, flt.sql())
                assert [r["chunk_id"] for r in fast] == [r["chunk_id"] for r in exact]
                assert [round(r["_score"], 5) for r in fast] == [round(r["_score"], 5) for r in exact]

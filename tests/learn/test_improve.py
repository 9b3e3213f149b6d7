"""The learning loop on tests/data/qa-mini: answers are asked and rated as users would (up when a cited document
is relevant per the qrels, with that source marked helpful; abstentions on unanswerable questions rated up), the
labeled set is built from the log, and an improvement run adapts, re-embeds, gates and releases."""

import json
import random

import pytest
from sqlalchemy import text
from conftest import DATA, make_engine

from ragship.errors import InputError
from ragship.evaluate.beir import load_dataset, read_queries
from ragship.learn.datasets import Datasets
from ragship.learn.improve import shortfalls
from ragship.learn.labels import collect
from ragship.learn.loop import Loop
from ragship.monitor.querylog import QueryLog
from ragship.release.gate import Check, GateReport

IMPROVE = {"min_judged": 3, "min_answer_labels": 5, "min_heldout": 1, "epochs": 1, "batch_size": 4, "retune": True}
UNMEASURED = {"backend": "torch"}  # a model trained here is served by the path named, not measured again (~30 s)


def rate(engine, log: QueryLog, flip: float = 0.0, seed: int = 0) -> int:
    """Every qa-mini question asked once and rated as its qrels say, each by a user of its own (no key may supply
    more than improve.max_key_share of a set); `flip` of the ratings inverted, and the answers rated wrong reviewed
    by the home's admin (what it should have done)."""
    rng = random.Random(seed)
    data = load_dataset(DATA / "qa-mini", "test")
    unanswerable = read_queries(DATA / "qa-mini" / "queries_unanswerable.jsonl")
    rated = 0
    for n, (qid, question) in enumerate([*data.queries.items(), *unanswerable.items()]):
        answer = engine.ask(question)
        user = f"user{n}"
        with log.request(user, "default", "ask", question) as r:
            shown = r.answered(answer.to_dict(), answer.retrieval)
        relevant = data.qrels.get(qid, {})
        helpful = [c["chunk_id"] for c in shown["citations"] if c["doc_id"] in relevant]
        good = bool(helpful) if relevant else shown["abstained"]
        good = good != (rng.random() < flip)
        log.feedback(shown["id"], user, 1 if good else -1, marks={c: "helpful" for c in helpful[:1]} if good else {})
        if not good:
            log.feedback(shown["id"], "local", 0, expected="answer" if relevant else "abstain")
        rated += 1
    return rated


@pytest.fixture
def rated(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir, improve=IMPROVE, monitor={"query_text": "keep"},
                         embed=UNMEASURED)
    engine.ingest([DATA / "qa-mini" / "corpus.jsonl"])
    log = QueryLog(engine.state, "keep")
    assert rate(engine, log) == 16
    return engine, log


def test_ratings_become_a_versioned_labeled_set(rated):
    engine, log = rated
    items = collect(log, "default")
    judged = {i.question: i for i in items if i.relevant}
    assert judged["Who discovered penicillin?"].relevant and all(i.labels[0].version == "v1" for i in items)
    assert sum(i.answerable is False for i in items) == 8
    datasets = Datasets(engine.home.datasets)
    first, new = datasets.build(items, "default")
    again, new_again = datasets.build(collect(log, "default"), "default")
    assert new and not new_again and again.number == first.number == 1  # the same labels: no new version
    sides = {s: {i.qid for i in first.items(s)} for s in ("train", "heldout")}
    assert sides["train"] and sides["heldout"] and not sides["train"] & sides["heldout"]
    assert load_dataset(first.split("heldout"), "test", corpus=False).queries.keys() <= sides["heldout"]


def test_a_run_adapts_gates_and_the_next_ingest_follows_the_learned_model(rated, tmp_path, cache_dir):
    engine, log = rated
    report = Loop(engine, log, "default").improve()
    assert report["plan"]["adapt"] and report["candidate"] == "v2", report
    assert report["status"] in ("promoted", "refused") and report["gate"], report["reason"]
    adaptation = report["adaptation"]
    assert adaptation["training"]["steps"] >= 1 and adaptation["fusion"]["settings"]["mode"]  # retuned
    again = make_engine(tmp_path / "home", cache_dir, improve=IMPROVE, embed=UNMEASURED)
    v1, v2 = again.registry.get("v1").model_id, again.at_version("v2")
    # v2 retrieves with its adapted model and reads sentences with the one it was adapted from (the scale the
    # confidence was fitted on)
    assert v2.searcher().embedder.model_id == v2.registry.get("v2").model_id != v1
    assert v2.answerer().embedder.model_id == v1
    if report["status"] == "refused":
        assert again.registry.live().id == "v1" and again.registry.get("v2").release["refused"]
        return
    assert again.registry.live().id == "v2" and again.embedder.model_id == again.registry.live().model_id
    assert again.searcher().settings.mode == report["adaptation"]["fusion"]["settings"]["mode"]
    follow = again.ingest([DATA / "qa-mini" / "corpus.jsonl"])
    assert follow.chunks_embedded == 0 and follow.unchanged == 10 and follow.version == "v2"  # nothing undone
    (tmp_path / "new.md").write_text("# Aspirin\n\nAspirin was first synthesised in 1897 by Felix Hoffmann.\n")
    added = again.ingest([tmp_path / "new.md"])  # an upload after the run: a new version on the learned model
    served = make_engine(tmp_path / "home", cache_dir, improve=IMPROVE, embed=UNMEASURED)
    assert added.version == "v3" and served.search("Who synthesised aspirin?").hits  # it loads (it refused: 500s)


def test_a_dry_run_writes_nothing_and_the_set_says_who_its_labels_came_from(rated):
    """Issue 48, finding 6: `improve --dry-run` wrote a new dataset version."""
    from typer.testing import CliRunner

    from ragship.cli import app

    engine, log = rated
    report = Loop(engine, log, "default").improve(dry_run=True)
    assert report["dataset"]["new"] and report["dataset"]["number"] == 1 and report["plan"]["judged"] >= 3
    assert Datasets(engine.home.datasets).versions() == []  # nothing written
    keys = report["dataset"]["sources"]["keys"]
    reviews = keys["local"]  # the answers rated wrong, reviewed by the home's admin
    assert len(keys) == 17 and reviews["role"] == "admin" and reviews["reviews"] == reviews["questions"] >= 1
    built = CliRunner().invoke(app, ["--home", str(engine.home.root), "dataset", "build"])
    assert "labels by key" in built.stdout and "user0" in built.stdout, built.stdout


def test_a_hashed_log_cannot_be_learned_from(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir)
    with pytest.raises(InputError, match="query_text"):
        collect(QueryLog(engine.state, "hash"), "default")


def test_the_log_keeps_what_labels_need(rated):
    _, log = rated
    rows = log.state.rows(text("SELECT answer, sources FROM ragship_requests WHERE outcome = 'answered'"))
    assert rows and all(json.loads(s)[0]["cited"] for _, s in rows)


def test_the_cli_lists_reviews_builds_shows_and_exports_the_set_and_dry_runs(rated, tmp_path):
    from typer.testing import CliRunner

    from ragship.cli import app

    engine, log = rated

    def run(*args):
        return CliRunner().invoke(app, ["--home", str(engine.home.root), *args])

    down = json.loads(run("feedback", "list", "--rating", "down", "--status", "all", "--json").stdout)
    assert down and all(r["rating"] < 0 for r in down)
    reviewed = run("feedback", "add", down[0]["id"], "--expected", "abstain",
                   "--wrong", down[0]["sources"][0]["chunk_id"])
    assert reviewed.exit_code == 0, reviewed.output
    unshown = run("feedback", "add", down[0]["id"], "--wrong", "docs/does-not-exist.txt#0")
    assert unshown.exit_code and "not a source this answer showed" in str(unshown.exception), unshown.output
    built = json.loads(run("dataset", "build", "--json").stdout)
    assert built["new"] and built["number"] == 1 and built["items"] == 16
    assert json.loads(run("dataset", "show", "--json").stdout)["sha256"] == built["sha256"]
    assert run("dataset", "export", str(tmp_path / "out")).exit_code == 0
    exported = load_dataset(tmp_path / "out", "train")
    assert exported.corpus is not None and exported.qrels  # a BEIR folder `ragship eval` reads
    plan = json.loads(run("improve", "--dry-run", "--json").stdout)
    assert plan["dry_run"] and plan["plan"]["judged"] >= 3 and not plan["dataset"]["new"]  # default min_judged 20
    shown = run("improve", "--dry-run").stdout  # issue 49, finding 7: it printed the raw JSON
    assert not shown.lstrip().startswith("{") and "nothing written" in shown, shown
    assert f"{plan['plan']['unanswerable']} unanswerable" in shown and "re-fit the calibration" in shown, shown
    assert engine.registry.live().id == "v1"  # a dry run changes nothing


def test_documents_added_since_the_model_last_learned_are_learned_without_labels(tmp_path, cache_dir):
    golden = [{"path": str(DATA / "qa-mini"), "split": "test"}]
    engine = make_engine(tmp_path / "home", cache_dir,
                         improve={**IMPROVE, "unsupervised": True, "min_new_documents": 3},
                         release={"golden": golden}, embed=UNMEASURED)
    engine.ingest([DATA / "qa-mini" / "corpus.jsonl"])
    loop = Loop(engine, QueryLog(engine.state, "keep"), "default")
    assert loop.improve(dry_run=True)["plan"]["new_documents"] == 0  # v1 is what the model started from
    engine.ingest([DATA / "docs"])
    report = loop.improve()
    assert report["plan"]["unsupervised"] and report["plan"]["new_documents"] == 6, report["plan"]
    adaptation = report["adaptation"]
    assert adaptation["labeled_pairs"] == 0 and adaptation["cloze_pairs"] > 0 and adaptation["new_documents"] == 6
    assert report["candidate"] == "v3" and report["gate"] and report["status"] in ("promoted", "refused"), report
    if report["status"] == "promoted":  # the next run starts from what this one learned
        assert loop.improve(dry_run=True)["plan"]["new_documents"] == 0


def _signal(held, shift: float, seed: int = 0):
    """Confidences that rank the held-out questions by answerability (with noise), shifted by `shift`."""
    import numpy as np

    y = np.array([int(i.answerable) for i in held])
    score = y + np.random.default_rng(seed).normal(0, 0.45, len(y))
    return list(1 / (1 + np.exp(-4 * (score - shift))))


def test_a_calibration_is_judged_at_its_operating_point(tmp_path):
    """The live confidence ranks as well but its threshold abstains on nearly everything: judged at the raw rates the
    candidate would lose on abstentions; moved to the candidate's operating point, the live one is no better. An
    inverted candidate still loses there."""
    import numpy as np

    from ragship.answer.calibrate import Calibration, choose_threshold
    from ragship.learn.improve import calibration_checks
    from ragship.learn.labels import Item
    from ragship.settings import load_settings
    from ragship.types import AbstainTarget

    release = load_settings(home=tmp_path).release
    held = [Item(f"q{n}", f"question {n}", answerable=n % 2 == 0) for n in range(300)]
    y = np.array([int(i.answerable) for i in held])
    live = _signal(held, shift=1.3)  # at 0.5 it answers a few answerable questions only
    assert np.mean(np.array(live)[y == 1] >= 0.5) < 0.8
    fitted = _signal(held, shift=0.3, seed=1)  # a fit on other questions of the same kind
    target = AbstainTarget.parse("answer >= 0.9")
    good = Calibration([], [], [], [], 0.0, choose_threshold(np.array(fitted), y, target), str(target))
    checks, threshold = calibration_checks(live, _signal(held, 0.3, seed=2), held, good, release)
    assert threshold < 0.5 and checks and not any(ch.regressed for ch in checks), checks
    inverted = [1 - p for p in _signal(held, 0.3, seed=2)]
    checks, _ = calibration_checks(live, inverted, held, good, release)
    assert any(ch.regressed for ch in checks)


def test_a_refit_keeps_the_question_prior_of_the_calibration_in_force(tmp_path, cache_dir):
    from ragship.evaluate.runner import calibrate
    from ragship.learn.improve import refit
    from ragship.learn.labels import Item
    from ragship.types import AbstainTarget

    engine = make_engine(tmp_path / "home", cache_dir)
    live = calibrate(engine, DATA / "qa-mini", target=AbstainTarget("precision", 0.6), prior_questions=DATA / "nq-mini")
    answerable = load_dataset(DATA / "qa-mini", "test").queries
    unanswerable = read_queries(DATA / "qa-mini" / "queries_unanswerable.jsonl")
    items = [Item(q, text, answerable=q in answerable) for q, text in {**answerable, **unanswerable}.items()]
    fitted = refit(engine.at_version("v1"), items)
    assert fitted.features[-1] == "question_prior" and fitted.prior == live.prior


def _training_side_key(n: int) -> str:
    """A rater's key whose questions lie on the training side of the split."""
    from itertools import count

    from ragship.learn.datasets import held_out
    from ragship.learn.labels import Item, Label

    return next(k for k in (f"user{n}-{i}" for i in count())
                if not held_out(Item("q", "q", labels=[Label("a", k, 0.0, "v1", 1, "answered")])))


def test_ratings_that_reviews_contradict_are_not_calibrated_on(tmp_path, cache_dir):
    """Every rating inverted, an editor's review on five questions of each kind: the run measures the ratings as
    wrong and refuses to re-fit the calibration on them; nothing goes live. Every rater on the training side: a
    down-vote on an answer labels no answerability (issue 49), so qa-mini's 16 questions leave few labels."""
    engine = make_engine(tmp_path / "home", cache_dir, monitor={"query_text": "keep"}, embed=UNMEASURED,
                         improve={**IMPROVE, "min_judged": 1000, "min_reviews": 2})
    engine.ingest([DATA / "qa-mini" / "corpus.jsonl"])
    log = QueryLog(engine.state, "keep")
    data = load_dataset(DATA / "qa-mini", "test")
    unanswerable = read_queries(DATA / "qa-mini" / "queries_unanswerable.jsonl")
    for n, (qid, question) in enumerate([*data.queries.items(), *unanswerable.items()]):
        answer = engine.ask(question)
        with log.request("user", "default", "ask", question) as r:
            shown = r.answered(answer.to_dict(), answer.retrieval)
        truly = (qid in data.qrels) == (not shown["abstained"])  # the right rating: up when it did what it should
        log.feedback(shown["id"], _training_side_key(n), -1 if truly else 1)
        if n % 8 < 5:  # the home's admin (the CLI) reviews
            log.feedback(shown["id"], "cli", 0, expected="answer" if qid in data.qrels else "abstain")
    report = Loop(engine, log, "default").improve()
    assert report["plan"]["calibrate"] and not report["plan"]["adapt"], report["plan"]
    assert report["status"] == "refused" and "contradict 100%" in report["reason"], report
    assert report["calibration"]["label_noise"]["rate"] == 1.0 and engine.calibrations.current("v1") is None


def _report(golden: str, live: float, candidate: float) -> GateReport:
    """A gate report that passed: a change too small for the paired test to call a regression."""
    return GateReport("v2", "v1", golden, [Check("ndcg@10", live, candidate, round(candidate - live, 4), 0.005, 0.06,
                                                 52, False)])


def test_a_candidate_the_gate_passes_goes_live_only_for_a_gain():
    """The inverted replay of session 24: every rating inverted, the gate passed (its losses were not significant
    on 52 held-out and 300 golden questions) and the run promoted a worse model."""
    heldout = "/h/datasets/0001/heldout"
    inverted = [_report("/data/scifact (test)", 0.7282, 0.7144), _report(f"{heldout} (test)", 0.8123, 0.7961)]
    why = shortfalls(inverted, heldout, learned=True)
    assert why == ["nDCG@10 -0.0138 on /data/scifact (test), beyond its tolerance 0.005",
                   "nDCG@10 0.8123 -> 0.7961 on the held-out production questions, which it learned for"]
    assert shortfalls([_report(f"{heldout} (test)", 0.8827, 0.9164)], heldout, learned=True) == []  # the clicks replay
    flat = [_report("/data/scifact (test)", 0.7282, 0.7262), _report(f"{heldout} (test)", 0.8123, 0.8123)]
    assert len(shortfalls(flat, heldout, learned=True)) == 1  # no gain where it learned; within tolerance elsewhere
    assert shortfalls(flat, heldout, learned=False) == []  # new documents only: no loss beyond tolerance is enough


def test_a_learned_gain_must_be_told_from_noise():
    """Stop 56's inverted replay (every rating inverted, 40 keys): its held-out side, labeled by the same inverted
    ratings, rose 0.7484 -> 0.7578 on 51 questions, p 0.33 of no gain, and the run promoted a model that lost on
    SciFact test (0.7281 -> 0.7068). The clicks replay's held-out gain, 0.8465 -> 0.8858 on 114, has p 0.013."""
    from ragship.release.gate import compare

    heldout = "/h/datasets/0002/heldout"
    live = {f"q{i}": 0.75 + 0.2 * ((i * 7) % 5 - 2) / 2 for i in range(51)}
    noisy = {q: v + (0.06 if i % 2 else -0.05) for i, (q, v) in enumerate(live.items())}
    check = compare({"ndcg@10": live}, {"ndcg@10": noisy}, {"ndcg@10": 0.005}, 0.05)[0]
    assert check.change > 0 and not check.regressed and check.p_gain > 0.05  # a rise the gate cannot refuse
    report = GateReport("v2", "v1", f"{heldout} (test)", [check])
    assert shortfalls([report], heldout, learned=True) == [
        f"nDCG@10 {check.live:.4f} -> {check.candidate:.4f} on the held-out production questions, which it learned "
        f"for (within noise: p {check.p_gain:.2g} of no gain, release.significance 0.05)"]
    lifted = {q: v + (0.06 if i % 5 else -0.01) for i, (q, v) in enumerate(live.items())}
    gain = compare({"ndcg@10": live}, {"ndcg@10": lifted}, {"ndcg@10": 0.005}, 0.05)[0]
    assert gain.p_gain < 0.05 and shortfalls([GateReport("v2", "v1", f"{heldout} (test)", [gain])], heldout,
                                             learned=True) == []


def test_a_candidate_refused_on_its_refitted_calibration_alone_is_gated_again_without_it(tmp_path):
    """The stop-55 replay: the model lifted retrieval (held-out nDCG@10 0.8572 -> 0.8819, SciFact test 0.7519) and
    was refused on abstain_rate alone, which its re-fitted calibration decides: the candidate is gated again with
    the confidence in force, and the run's report says why the calibration was set aside."""
    from types import SimpleNamespace

    from ragship.answer.calibrate import Calibration, CalibrationStore
    from ragship.learn.improve import _answers_alone_regressed, _without_refit

    answers = GateReport("v2", "v1", "h (test)", [
        Check("ndcg@10", 0.8572, 0.8819, 0.0247, 0.005, 0.99, 200, False),
        Check("abstain_rate", 1.0, 0.6875, -0.3125, 0.01, 0.0116, 16, True)])
    retrieval = GateReport("v2", "v1", "h (test)", [Check("ndcg@10", 0.88, 0.85, -0.03, 0.005, 0.001, 200, True)])
    assert _answers_alone_regressed([answers]) and not _answers_alone_regressed([answers, retrieval])
    assert not _answers_alone_regressed([_report("h (test)", 0.8, 0.8)])
    store = CalibrationStore(tmp_path)
    store.save(Calibration(["semantic"], [0.0], [1.0], [1.0], 0.0, 0.79, "answer >= 0.9"), "v2")
    gated_with = []
    releases = SimpleNamespace(gate=lambda version, extra: gated_with.append(store.path(version).exists()) or [])
    c = SimpleNamespace(calibrations=store, releases=lambda: releases)
    out = SimpleNamespace(candidate="v2", calibration={"fitted_on": {}})
    assert _without_refit(c, out, [answers], []) == [] and gated_with == [False]
    assert "abstain_rate -0.3125" in out.calibration["refused"] and not store.path("v2").exists()


def test_a_run_with_nothing_live_says_why_instead_of_failing_on_none(monkeypatch):
    """Found by mypy (stop 57): with no live version, a run's IndexNotReady was caught, then `live().id` raised
    AttributeError on None, and the run was recorded as "'NoneType' object has no attribute 'id'"."""
    from types import SimpleNamespace

    import ragship.learn.improve as improve
    from ragship.errors import IndexNotReady

    def nothing_live(*args):
        raise IndexNotReady("no live version: run `ragship ingest` first")

    monkeypatch.setattr(improve, "new_documents", lambda c, since: set())
    monkeypatch.setattr(improve, "plan", lambda labeled, settings, n=0: {"adapt": True, "calibrate": False,
                                                                          "unsupervised": False})
    monkeypatch.setattr(improve, "_run", nothing_live)
    c = SimpleNamespace(registry=SimpleNamespace(live=lambda: None), settings=None)
    out = improve.improve(c, SimpleNamespace(name="datasets/0001", manifest={}))
    assert out.status == "failed" and "ragship ingest" in out.reason
    assert out.live_before is None and out.live_after is None

"""One improvement run of a collection: the labeled set from production (labels.py, datasets.py), then

1. the embedding model re-adapted on the training side's (question, helpful document) pairs, its hard negatives
   from what retrieval found and nobody marked relevant, and on inverse-cloze pairs from the documents added
   since the model last learned (new documents need no labels); the live chunks re-embedded into a candidate
   version (ingest/pipeline.py `reembed`: nothing re-read from the sources). The configured fusion weights stay:
   the gate judges the pair (new model, those weights), so a stale pair that loses is refused (ADR 0021:
   re-tuning on production labels lost on SciFact; `improve.retune` turns it on, the weights then kept with the
   version);
2. the answer calibration re-fitted on the answerability labels, with the version that will serve;
3. the gate: the candidate against the live version on the held-out side (never trained on) and every
   configured golden set; it goes live only when the gate passes, it retrieves better (`shortfalls`: the gate
   refuses a loss beyond noise, a run promotes a measured gain), and `release.auto_promote` is not "never".
   A calibration alone goes live when, on the held-out questions, it answers and abstains no worse than the
   confidence in force moved to the same operating point (`answer.abstain_target`; the gate's paired test).

Whatever fails or is refused leaves the live version and its calibration as they were; the run's record says
why (`ragship status`, the ImproveRefused alert)."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import AbstractSet, Any, Protocol

import numpy as np

from ragship.adapt import biencoder
from ragship.adapt.pairs import Pair, cloze_pairs, labeled_pairs
from ragship.adapt.runner import CLOZE_PAIRS, with_model
from ragship.answer.calibrate import (PRIOR_FEATURE, Calibration, CalibrationStore, choose_threshold, fit,
                                      unbiased_labels)
from ragship.embed.cache import CachedEmbedder
from ragship.embed.factory import measured_choice
from ragship.errors import ConfigError, GateRefused, GateUnavailable, RagshipError
from ragship.evaluate.tune import Tunable, fusion
from ragship.ingest.pipeline import reembed
from ragship.learn.datasets import LabeledSet
from ragship.learn.labels import Item, answer_labels, label_noise, reviewed
from ragship.release.gate import Check, GateReport, compare
from ragship.settings import GoldenSet, ReleaseSettings, Settings
from ragship.types import AbstainTarget
from ragship.util.child import run_apart

SEED = 0
MAX_NOISE = 0.4  # ratings contradicted this often by reviews carry too little to calibrate on


class Improvable(Tunable, Protocol):
    """What a run uses of a collection (the Engine is one)."""

    calibrations: CalibrationStore
    pin: str | None  # the version it serves (at_version), None for the live one

    @property
    def embedder(self) -> CachedEmbedder: ...

    def context(self, question: str) -> Any: ...

    def answerer(self) -> Any: ...

    def at_version(self, version_id: str) -> Improvable: ...

    def sibling(self, settings: Settings) -> Improvable: ...

    def releases(self) -> Any: ...


@dataclass
class Outcome:
    status: str = "unchanged"  # promoted, candidate, refused, unchanged, failed
    reason: str = ""
    dataset: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    adaptation: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    candidate: str | None = None
    gate: list[dict[str, Any]] = field(default_factory=list)
    live_before: str | None = None
    live_after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(labeled: LabeledSet, settings: Settings, new_documents: int = 0) -> dict[str, Any]:
    """What a run on this set (and `new_documents` since the model last learned) would do, and why not. A model is
    adapted only when something can gate it: `improve.min_heldout` judged held-out questions, or a golden set (a
    single key's labels all lie on one side: training on them would be refused after the work, issue 48)."""
    train = labeled.items("train")
    judged = sum(bool(i.relevant) for i in train)
    counts = answer_labels(train)
    yes, no = counts["answerable"], counts["unanswerable"]
    s = settings.improve
    unsupervised = s.unsupervised and new_documents >= s.min_new_documents
    heldout = labeled.manifest["splits"]["heldout"]["judged"]
    gated = heldout >= s.min_heldout or bool(settings.release.golden)
    learnable = judged >= s.min_judged or unsupervised
    return {"adapt": learnable and gated, "unsupervised": unsupervised,
            "calibrate": min(yes, no) >= s.min_answer_labels, "judged": judged, "answerable": yes,
            "unanswerable": no, "new_documents": new_documents, "heldout_judged": heldout,
            "golden_sets": len(settings.release.golden),
            "not_adapted": None if gated or not learnable else (
                f"{heldout} held-out questions with a relevant source (improve.min_heldout = {s.min_heldout}) and "
                "no [[release.golden]] set: nothing could gate an adapted model"),
            "needs": {"judged": s.min_judged, "each_answer_label": s.min_answer_labels,
                      **({"new_documents": s.min_new_documents} if s.unsupervised else {}),
                      "heldout_judged": s.min_heldout}}


def new_documents(c: Improvable, since: str | None) -> set[str]:
    """The live version's documents that version `since` did not have (none when `since` is unknown)."""
    live = c.registry.live()
    if since is None or live is None or since == live.id or c.registry.find(since) is None:
        return set()
    return _documents(c, live.id) - _documents(c, since)


def _documents(c: Improvable, version: str) -> set[str]:
    return set(c.at_version(version).searcher().view.rows(["doc_id"])["doc_id"].to_pylist())


def improve(c: Improvable, labeled: LabeledSet, progress=None, since: str | None = None) -> Outcome:
    """Run the loop once on `labeled` and the documents added after version `since` (see the module's text)."""
    live = c.registry.live()
    fresh = new_documents(c, since)
    out = Outcome(dataset={"name": labeled.name, **labeled.manifest}, plan=plan(labeled, c.settings, len(fresh)),
                  live_before=live.id if live else None)
    if not (out.plan["adapt"] or out.plan["calibrate"]):
        counted = ("judged", "answerable", "unanswerable") + (("new_documents",) if c.settings.improve.unsupervised
                                                               else ())
        out.reason = out.plan["not_adapted"] or "too few labels or new documents to learn from: " + json.dumps(
            {k: out.plan[k] for k in counted})
        left_out = (labeled.manifest.get("sources") or {}).get("dropped") or {}
        if left_out:  # say what the labels that were given became (one key alone: all over its share)
            out.reason += "; not counted: " + "; ".join(f"{n} {why}" for why, n in left_out.items())
        out.status = "refused" if out.plan["not_adapted"] else out.status
        out.live_after = out.live_before
        return out
    try:
        _run(c, labeled, out, progress, fresh if out.plan["unsupervised"] else set())
    except RagshipError as e:  # what was done stays in the outcome; the live version is as it was
        out.status, out.reason = "failed", str(e)
    out.live_after = getattr(c.registry.live(), "id", None)  # None: nothing was live (the run failed)
    return out


def _run(c: Improvable, labeled: LabeledSet, out: Outcome, progress, fresh: set[str]) -> None:
    """Adapt (a candidate), re-fit the calibration for the version that will serve, release what passes."""
    target = c
    if out.plan["adapt"]:
        out.adaptation, out.candidate = adapt_candidate(c, labeled, progress, fresh)
        target = c.sibling(with_model(c.settings, out.adaptation["model_path"])).at_version(out.candidate)
    calibration = None
    train = labeled.items("train") if out.plan["calibrate"] else []
    noise = label_noise(c.settings, train) if out.plan["calibrate"] else None
    if noise and noise["rate"] >= MAX_NOISE:
        out.calibration = {"label_noise": noise, "refused": (
            f"editors' reviews contradict {noise['rate']:.0%} of the ratings they checked ({noise['reviews']} "
            "reviews): the ratings are not fit to calibrate on, and the calibration in force stays")}
    elif out.plan["calibrate"]:
        calibration = refit(target, train, noise)
        out.calibration = {"fitted_on": calibration.fitted_on, "validation": {
            k: v for k, v in calibration.validation.items() if k != "reliability"}}
    if out.candidate:
        if calibration:
            c.calibrations.save(calibration, out.candidate)  # in force when (if) the candidate goes live
        _release(c, labeled, out)
    elif calibration:
        _release_calibration(c, labeled, calibration, out)
    elif out.calibration:
        out.status, out.reason = "refused", out.calibration["refused"]


def adapt_candidate(c: Improvable, labeled: LabeledSet, progress=None,
                    fresh: AbstractSet[str] = frozenset()) -> tuple[dict[str, Any], str]:
    """Train from the live model on the training side's pairs and inverse-cloze pairs from the `fresh` documents;
    a candidate version embedded by the new model (with `improve.retune`, fusion weights tuned for it).
    (report, candidate version id)"""
    s = c.settings.improve
    searcher = c.searcher()
    train = [i for i in labeled.items("train") if i.relevant]
    labeled_part = training_pairs(train, searcher)
    cloze = cloze_pairs(searcher, random.Random(SEED), CLOZE_PAIRS, set(fresh)) if fresh else []
    pairs = labeled_part + cloze
    if not pairs:
        raise ConfigError("no training pairs: no labeled question found a negative among its search results, and "
                          "no new document has two sentences to make an inverse-cloze pair from")
    digest = hashlib.sha256(json.dumps([[p.query, p.positive, p.negative] for p in pairs]).encode()).hexdigest()
    base = searcher.embedder
    assert isinstance(base, CachedEmbedder)  # the engine's searchers embed through its cache (the weights' path)
    out = c.home.models / f"{c.home.root.name}-improved-{digest[:10]}"
    # each in a process of its own: both leave a gigabyte or more in the heap, returned when it ends (ADR 0021)
    training = run_apart(biencoder.train, base.path, pairs, out, progress=progress, what="training",
                         epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, budget_s=s.budget_s, seed=SEED)
    if c.settings.embed.measured:  # the new model's encoder paths (ADR 0019), cached for every later process
        run_apart(measured_choice, c.settings.embed.model_copy(update={"model": str(out)}),
                  what="measuring the encoder paths")
    adapted = c.sibling(with_model(c.settings, str(out)))
    with c.home.exclusive(wait_s=600):
        report = reembed(settings=adapted.settings, embedder=adapted.embedder, store=adapted.store(),
                         registry=adapted.registry, adapted_from=c.settings.embed.model)
    assert report.version is not None  # the candidate it committed
    found = {"model_path": str(out), "base_model": base.model_id, "pairs": len(pairs), "questions": len(train),
             "labeled_pairs": len(labeled_part), "cloze_pairs": len(cloze), "new_documents": len(fresh),
             "data_sha256": digest, "training": training, "fusion": None}
    if s.retune and train:  # weights for this model, kept with its version (ADR 0021)
        tuned = fusion(adapted.at_version(report.version), {i.qid: i.question for i in train},
                       {i.qid: i.relevant for i in train})
        c.registry.update_release(report.version, search=tuned.chosen.settings, tuned=tuned.why)
        found["fusion"] = {"settings": tuned.chosen.settings, "ndcg@10": tuned.chosen.ndcg, "why": tuned.why}
    return found, report.version


def training_pairs(items: list[Item], searcher) -> list[Pair]:
    """(question, helpful chunk, negative) per labeled question: labeled_pairs' negatives are retrieved documents
    nobody judged relevant; a document marked wrong is preferred as the negative where there is one."""
    rng = random.Random(SEED)
    pairs = labeled_pairs({i.qid: i.question for i in items}, {i.qid: i.relevant for i in items}, searcher, rng)
    wrong = {i.qid: i.not_relevant for i in items if i.not_relevant}
    if not wrong:
        return pairs
    first_chunk: dict[str, str] = {}
    rows = searcher.view.rows(["doc_id", "index_text"])
    for d, text in zip(rows["doc_id"].to_pylist(), rows["index_text"].to_pylist()):
        first_chunk.setdefault(d, text)
    return [Pair(p.qid, p.query, p.positive, first_chunk.get(rng.choice(wrong[p.qid]), p.negative))
            if p.qid in wrong else p for p in pairs]


def refit(target: Improvable, items: list[Item], noise: dict[str, Any] | None = None) -> Calibration:
    """A calibration fitted on the answerability labels, with the features `target` computes; its operating point
    chosen allowing for the ratings' `noise` (label_noise; reviewed questions count as right)."""
    labeled = [i for i in items if i.answerable is not None]
    rows = [a.features for a in assessments(target, [i.question for i in labeled])]
    labels = [int(bool(i.answerable)) for i in labeled]  # answerable is not None in `labeled`
    noise = noise or {"rate": 0.0}
    calibration = fit(rows, labels, AbstainTarget.parse(target.settings.answer.abstain_target),
                      noise=noise["rate"], clean=[reviewed(i) for i in labeled])
    if PRIOR_FEATURE in calibration.features:  # computed by the live calibration's question prior: kept
        calibration.prior = target.answerer().calibration.prior
    calibration.fitted_on = {"dataset": "production", "split": "train", "answerable": sum(labels),
                             "unanswerable": len(labels) - sum(labels), "label_noise": noise,
                             "version": target.pin or getattr(target.registry.live(), "id", None),
                             "features": calibration.features}
    return calibration


def assessments(c: Improvable, questions: list[str]) -> list:
    """What the answer stage makes of each question's evidence: its features and its confidence."""
    answerer = c.answerer()
    return [answerer.assess(q, c.context(q)) for q in questions]


def _release(c: Improvable, labeled: LabeledSet, out: Outcome) -> None:
    """Gate the candidate on the held-out side and the golden sets; promote it unless the policy says never."""
    assert out.candidate is not None and out.adaptation is not None  # adapt_candidate made both
    judged = labeled.manifest["splits"]["heldout"]["judged"]
    heldout = [GoldenSet(path=labeled.split("heldout"), split="test")] if judged >= c.settings.improve.min_heldout \
        else []
    if not heldout and not c.settings.release.golden:
        out.status = "refused"
        out.reason = (f"{judged} held-out questions with a relevant source (improve.min_heldout = "
                      f"{c.settings.improve.min_heldout}) and no [[release.golden]] set: nothing to trust a gate on")
        return
    try:
        reports = c.releases().gate(out.candidate, extra=heldout)
        if _answers_alone_regressed(reports) and c.calibrations.path(out.candidate).exists():
            reports = _without_refit(c, out, reports, heldout)
    except (ConfigError, GateUnavailable) as e:  # nothing to gate on (no held-out judgements, no golden set)
        out.status, out.reason = "refused", str(e)
        return
    out.gate = [r.to_dict() for r in reports]
    refused = [f"{ch.metric} {ch.change:+.4f} on {r.golden}" for r in reports for ch in r.checks if ch.regressed]
    short = shortfalls(reports, str(labeled.split("heldout")) if heldout else None,
                       learned=out.adaptation["labeled_pairs"] > 0, significance=c.settings.release.significance)
    if refused or short:
        c.registry.update_release(out.candidate, refused={"at": reports[0].at, "by": "improve"})
        out.status, out.reason = "refused", ("the gate refused the candidate: " + "; ".join(refused) if refused
                                             else "the candidate does not retrieve better: " + "; ".join(short))
    elif c.settings.release.auto_promote == "never":
        out.status, out.reason = "candidate", "the gate passed; release.auto_promote = never: promote it by hand"
    else:
        try:
            c.releases().promote(out.candidate, by="improve", reports=reports)
            out.status, out.reason = "promoted", "the gate passed"
        except GateRefused as e:
            out.status, out.reason = "refused", str(e)


ANSWER_CHECKS = ("answer_rate", "abstain_rate")  # what the calibration decides, not the model


def _answers_alone_regressed(reports: list[GateReport]) -> bool:
    regressed = {ch.metric for r in reports for ch in r.checks if ch.regressed}
    return bool(regressed) and regressed <= set(ANSWER_CHECKS)


def _without_refit(c: Improvable, out: Outcome, reports: list[GateReport], heldout: list[GoldenSet]
                   ) -> list[GateReport]:
    """The model and the calibration are two decisions: when only the answer checks refused the candidate with its
    re-fitted calibration, it is gated again with the calibration in force (the re-fitted one set aside, said in
    the run's report); the stop-55 replay's model lifted SciFact test 0.7281 -> 0.7519 while its re-fitted
    calibration abstained on 11 of 16 held-out unanswerable questions where the live confidence abstained on 16."""
    assert out.candidate is not None  # _release's candidate
    refused = "; ".join(f"{ch.metric} {ch.change:+.4f}" for r in reports for ch in r.checks if ch.regressed)
    c.calibrations.path(out.candidate).unlink()
    if out.calibration is not None:
        out.calibration["refused"] = (f"the re-fitted calibration answered worse on held-out questions ({refused}) "
                                      "than the confidence in force, which the candidate keeps")
    return c.releases().gate(out.candidate, extra=heldout)


def shortfalls(reports: list[GateReport], heldout: str | None, learned: bool,
               significance: float = 0.05) -> list[str]:
    """Why a candidate the gate passed still does not retrieve better (none when it does): its nDCG@10 must rise on
    the held-out production questions (`heldout`, the report's set) when it `learned` from labels, and fall on no
    gated set by more than its tolerance. The gate refuses only a loss beyond noise, which a small held-out side
    rarely shows; a run that nobody asked for promotes a measured gain (ADR 0021: the inverted replay that passed),
    one the paired test tells from noise (`significance`): stop 56's inverted replay, its held-out side labeled by
    the same inverted ratings, rose 0.7484 -> 0.7578 on 51 questions (p of no gain 0.3) and was promoted, SciFact
    test 0.7281 -> 0.7068; the clicks replay's gain 0.8465 -> 0.8858 on 114 is one."""
    out = []
    for r in reports:
        for ch in (ch for ch in r.checks if ch.metric == "ndcg@10"):
            if learned and heldout and r.golden.startswith(heldout) and (
                    ch.change <= 0 or (ch.p_gain is not None and ch.p_gain >= significance)):
                out.append(f"nDCG@10 {ch.live:.4f} -> {ch.candidate:.4f} on the held-out production questions, "
                           "which it learned for" + (f" (within noise: p {ch.p_gain:.2g} of no gain, release."
                                                     f"significance {significance:g})" if ch.change > 0 else ""))
            elif ch.change < -ch.tolerance:
                out.append(f"nDCG@10 {ch.change:+.4f} on {r.golden}, beyond its tolerance {ch.tolerance:g}")
    return out


def _release_calibration(c: Improvable, labeled: LabeledSet, calibration: Calibration, out: Outcome) -> None:
    """The new calibration goes live when, on the held-out questions, it is no worse than the confidence in force
    at the same operating point (calibration_checks)."""
    live = c.registry.live()
    held = [i for i in labeled.items("heldout") if i.answerable is not None]
    if not held:
        out.status, out.reason = "refused", "no held-out answerability labels to check the calibration on"
        return
    seen = assessments(c, [i.question for i in held])
    checks, threshold = calibration_checks([a.confidence for a in seen],
                                           [calibration.predict(a.features) for a in seen], held, calibration,
                                           c.settings.release)
    out.gate = [{"golden": f"{labeled.split('heldout')} (answerability)", "checks": [asdict(ch) for ch in checks],
                 "operating_point": calibration.target, "live_threshold_there": round(threshold, 4),
                 "passed": not any(ch.regressed for ch in checks)}]
    if any(ch.regressed for ch in checks):
        out.status = "refused"
        out.reason = "the re-fitted calibration answers or abstains worse on held-out questions: " + "; ".join(
            f"{ch.metric} {ch.change:+.4f}" for ch in checks if ch.regressed)
        return
    assert live is not None  # assessments above served it
    calibration.fitted_on["version"] = live.id
    c.calibrations.save(calibration, live.id)
    out.status, out.reason = "promoted", ("the re-fitted calibration is no worse on held-out questions than the live "
                                          f"confidence at {calibration.target}")


def calibration_checks(live: list[float], candidate: list[float], held: list[Item], calibration: Calibration,
                       release: ReleaseSettings) -> tuple[list[Check], float]:
    """The gate's paired checks (answer and abstain rate) of a re-fitted calibration's confidences `candidate`
    against the confidences in force `live`, on the held-out questions, at the same operating point
    (`answer.abstain_target`): the live threshold is moved to meet it on these very questions, so a live threshold
    set for another point neither fails nor passes a candidate by itself. The checks, and that threshold."""
    confidence, y = np.asarray(live), np.array([int(bool(i.answerable)) for i in held])  # all labeled
    counted = unbiased_labels(y, calibration.validation.get("label_noise", 0.0),
                              [reviewed(i) for i in held])  # the same allowance for noisy ratings as the fit's
    threshold = choose_threshold(confidence, counted, AbstainTarget.parse(calibration.target))
    sides = {"live": _answer_rates(list(confidence >= threshold), held),
             "candidate": _answer_rates([p >= calibration.threshold for p in candidate], held)}
    tolerances = {k: release.tolerances.get(k, 0.01) for k in ("answer_rate", "abstain_rate")}
    return compare(sides["live"], sides["candidate"], tolerances, release.significance), threshold


def _answer_rates(answered: list[bool], items: list[Item]) -> dict[str, dict[str, float]]:
    """Per held-out question: answered (the answerable ones) or abstained (the unanswerable ones)."""
    out: dict[str, dict[str, float]] = {"answer_rate": {}, "abstain_rate": {}}
    for item, answers in zip(items, answered):
        if item.answerable:
            out["answer_rate"][item.qid] = float(answers)
        else:
            out["abstain_rate"][item.qid] = float(not answers)
    return out

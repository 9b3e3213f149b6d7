"""Calibration learned from ratings (issue 33, must-show 2): a real `ragship serve` over clapnq-dev; its 160
answerable and 134 unanswerable questions are asked as users would and rated: up when the answer matches a gold
answer (token F1 >= 0.5 with one, or it cites the gold passage) or when it abstained on an unanswerable
question; down when it answered an unanswerable question or abstained on an answerable one (a down-vote on an
answer labels no answerability since issue 49: only the abstentions' ratings and the reviews do); an answerable
question answered wrongly gets no rating (a user cannot tell "wrong" from "unanswerable"); `--noise` of the
ratings flipped. The server's scheduler starts an improvement run on its own, which re-fits the calibration on
the labels and checks it on the held-out questions. Printed next to each other: the re-fitted calibration's
out-of-fold rates, the rates users then get on all 294 questions judged by the gold labels (and on the
questions it was not trained on), and `ragship calibrate` on the gold labels (its out-of-fold rates).

    python scripts/learn_calibration.py [--home DIR] [--noise 0.1] [--target "abstain >= 0.8"] [--review N]
                                        [--data DIR] [--new-labels N]

`--data`: another BEIR folder with answerable and unanswerable questions (clapnq-dev's layout); `--new-labels`: the
labels that start the run (default: 9 fewer than the questions, 285 on clapnq-dev, 5 fewer with `--review`).

Both calibrations choose their threshold for `--target` (answer.abstain_target; default its default).

`--review N`: an editor then works through N rated answers on the review queue (GET /v1/review, the Review page's
default queue: rated down, abstained, a sample), saying for each whether it should have been answered (the gold
label). The run measures from them how noisy the ratings are and allows for it (ADR 0021, "Noisy ratings").

Last, the fits' out-of-fold rates over 20 fold splits (one split moves them by points): on the rating labels, on
the gold labels of the same questions (what ratings cost, the sample held the same) and on every question's gold
labels; and the spread over random samples as large as the re-fit's (how close two fits of that size can come).

Retrieval adaptation is held off (`improve.min_judged` above the set's size) so the run re-fits the calibration
alone and both calibrations see the same features.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import httpx

from ragship.testing import Server, cli_json, env_for, improvement_run, wait_for_run
from ragship.testing.bench import commit

ROOT = Path(__file__).resolve().parents[1]
CLAPNQ = ROOT.parent / "shared" / "datasets" / "clapnq-dev"
MATCH_F1 = 0.5


def questions(data: Path = CLAPNQ):
    from ragship.evaluate.answers import load_questions
    from ragship.evaluate.beir import load_dataset

    return load_questions(load_dataset(data, "test"))


def matches(answer: dict, q) -> bool:
    from ragship.evaluate.answers import citation_correct, token_f1

    return (max((token_f1(answer["answer"], g) for g in q.answers), default=0.0) >= MATCH_F1
            or any(c["doc_id"] in q.gold_docs for c in answer["citations"][:1])
            or any(citation_correct(c, q) for c in answer["citations"][:1]))


def rating(answer: dict, q) -> str | None:
    if answer["abstained"]:
        return "down" if q.answerable else "up"
    if not q.answerable:
        return "down"
    return "up" if matches(answer, q) else None


def replay(base: str, noise: float, seed: int = 0, data: Path = CLAPNQ) -> dict:
    rng = random.Random(seed)
    counts = {"asked": 0, "up": 0, "down": 0, "unrated": 0, "flipped": 0}
    with httpx.Client(base_url=base, timeout=120) as client:
        for q in questions(data):
            answer = client.post("/v1/ask", json={"question": q.text}).raise_for_status().json()
            counts["asked"] += 1
            said = rating(answer, q)
            if said is None:
                counts["unrated"] += 1
                continue
            if rng.random() < noise:
                said, counts["flipped"] = {"up": "down", "down": "up"}[said], counts["flipped"] + 1
            client.post("/v1/feedback", json={"answer_id": answer["id"], "rating": said}).raise_for_status()
            counts[said] += 1
    return counts


def review(base: str, limit: int, data: Path = CLAPNQ) -> tuple[dict, set[str]]:
    """An editor reviews up to `limit` rated answers from the review queue: should it have been answered (gold)?
    (counts, the reviewed questions' texts)"""
    gold = {q.text: q for q in questions(data)}
    counts, seen = {"reviewed": 0, "contradicting the rating": 0}, set()
    with httpx.Client(base_url=base, timeout=120) as client:
        queue = client.get("/v1/review", params={"queue": "all", "limit": 500}).raise_for_status().json()
        for a in queue["answers"]:
            q = gold.get(a["question"])
            if a["rating"] is None or q is None or a["question"] in seen:
                continue
            client.post("/v1/feedback", json={"answer_id": a["id"], "expected": "answer" if q.answerable
                                              else "abstain"}).raise_for_status()
            seen.add(a["question"])
            counts["reviewed"] += 1
            said = None if a["rating"] < 0 and a["outcome"] == "answered" else (  # labels._answerable's rule
                (a["rating"] > 0) == (a["outcome"] == "answered"))
            counts["contradicting the rating"] += said is not None and said != q.answerable
            if counts["reviewed"] == limit:
                break
    return counts, seen


def served_rates(base: str, trained: set[str], data: Path = CLAPNQ) -> dict:
    """What users get now, judged by the gold labels: on all questions, and on those the run did not train on."""
    from ragship.learn.labels import qid_of

    tally = {"all": [0, 0, 0, 0], "not trained on": [0, 0, 0, 0]}  # answered, answerable, abstained, unanswerable
    with httpx.Client(base_url=base, timeout=120) as client:
        for q in questions(data):
            a = client.post("/v1/ask", json={"question": q.text}).raise_for_status().json()
            for side in ("all", "not trained on") if qid_of(q.text) not in trained else ("all",):
                t = tally[side]
                if q.answerable:
                    t[0] += not a["abstained"]
                    t[1] += 1
                else:
                    t[2] += a["abstained"]
                    t[3] += 1
    return {side: {"answer_rate": round(t[0] / t[1], 4) if t[1] else None,  # None: every question was trained on
                   "abstain_rate": round(t[2] / t[3], 4) if t[3] else None,
                   "answerable": t[1], "unanswerable": t[3]} for side, t in tally.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--port", type=int, default=8767)
    p.add_argument("--target", default=None, help="answer.abstain_target for both fits, e.g. \"abstain >= 0.8\"")
    p.add_argument("--review", type=int, default=0, help="an editor reviews this many rated answers")
    p.add_argument("--data", type=Path, default=CLAPNQ, help="the labeled questions and their corpus")
    p.add_argument("--new-labels", type=int, default=None, help="the labels that start the improvement run")
    a = p.parse_args()
    if not a.data.is_dir():
        raise SystemExit(f"{a.data} not found: this script needs ../shared/datasets/clapnq-dev")
    home = a.home or Path(tempfile.mkdtemp(prefix="ragship-calibration-"))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "ragship.toml"
    # with --review the run waits for the editor (the ratings, ~289, and the reviews)
    labels = a.new_labels or len(questions(a.data)) - (14 - a.review if a.review else 9)
    trigger = f"check_every_s = {30 if a.review else 5}\nnew_labels = {labels}"
    # one client, no API key, rates every answer: improve.max_key_share (issue 48) would count a tenth of them
    config.write_text(f"[improve]\nschedule = true\n{trigger}\nmin_judged = 100000\nmax_key_share = 1.0\n\n"
                      "[monitor]\nquery_text = \"keep\"\n"
                      + (f"\n[answer]\nabstain_target = \"{a.target}\"\n" if a.target else ""))
    env = env_for(home, config)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; data: {a.data}; "
          f"commit {commit(ROOT)}; noise {a.noise}; target {a.target or 'default'}; "
          f"match: token F1 >= {MATCH_F1} or the gold passage cited first",
          flush=True)
    cli_json(env, "ingest", str(a.data / "corpus.jsonl"))
    with Server(env, port=a.port, log=home / "server.log", stop_s=30) as server:
        base = server.url
        print(f"served before (default calibration): {json.dumps(served_rates(base, set(), a.data))}", flush=True)
        started = time.time()
        print(f"replayed: {json.dumps(replay(base, a.noise, data=a.data))} in {time.time() - started:.0f} s",
              flush=True)
        reviewed: set[str] = set()
        if a.review:
            counts, reviewed = review(base, a.review, a.data)
            print(f"an editor reviewed: {json.dumps(counts)}", flush=True)
        run = wait_for_run(base, started, 3600)
        print(f"run: {run['status']}: {run['reason']} (trigger: {run['trigger']}; after "
              f"{time.time() - started:.0f} s)", flush=True)
        report = improvement_run(env, run["id"])
        fitted = report.get("calibration") or {}
        print(f"re-fitted on ratings: {json.dumps(fitted.get('fitted_on'))}\n  out-of-fold (against the rating "
              f"labels): {json.dumps(fitted.get('validation'))}", flush=True)
        trained = set(_trained(home, report))  # its keys
        time.sleep(2)  # the server re-reads a calibration file when it changes
        print(f"served after, judged by the gold labels: {json.dumps(served_rates(base, trained, a.data))}",
              flush=True)
    gold = cli_json(env, "calibrate", str(a.data))
    rates = {k: v for k, v in gold["validation"].items() if k != "reliability"}
    print(f"`ragship calibrate` on the gold labels, out-of-fold: {json.dumps(rates)}"
          f" (fitted on {gold['fitted_on']['answerable']} + {gold['fitted_on']['unanswerable']})", flush=True)
    if fitted:
        noise = (fitted.get("fitted_on") or {}).get("label_noise") or {"rate": 0.0}
        print(f"the run's allowance for noisy ratings: {json.dumps(noise)}", flush=True)
        for line in gold_fits(home, _trained(home, report), a.target, noise["rate"], reviewed, a.noise, data=a.data):
            print(line, flush=True)


def gold_fits(home: Path, rated: dict[str, int], target: str | None, noise: float = 0.0,
              reviewed: set[str] = frozenset(), flip: float = 0.0, shuffles: int = 20, data: Path = CLAPNQ
              ) -> list[str]:
    """Lines comparing `ragship calibrate`'s fit on rating labels and on gold labels: its out-of-fold rates judged by
    the gold labels, its threshold chosen on the labels it was given (as a run does: allowing for `noise`, the
    `reviewed` questions' labels taken as right). One 5-fold split moves the
    abstain rate by points on ~250 questions, so the rates are the mean and standard deviation over `shuffles`
    splits: with the re-fit's rating labels, with the gold labels of the same questions (what ratings cost, the
    sample held the same), and with the gold labels of every question (the issue's comparison). Last, the spread
    over 20 random samples as large as the re-fit's: how close two fits of that size can be expected to come. With
    `flip`, every question's gold labels with that share flipped at random (a new draw per split), the threshold
    chosen taking them as right and allowing for the (known) noise: the allowance apart from the replay's sample."""
    import statistics

    import numpy as np

    from ragship.answer import calibrate
    from ragship.engine import Engine
    from ragship.learn.labels import qid_of
    from ragship.settings import load_settings
    from ragship.types import AbstainTarget

    engine, qs = Engine(load_settings(home=home, answer={"abstain_target": target} if target else {})), questions(data)
    point = AbstainTarget.parse(engine.settings.answer.abstain_target)
    answerer = engine.answerer()
    rows = [answerer.assess(q.text, engine.context(q.text)).features for q in qs]
    gold = [int(q.answerable) for q in qs]
    own = [i for i, q in enumerate(qs) if qid_of(q.text) in rated]
    ratings = [rated[qid_of(qs[i].text)] for i in own]

    def rates(pick: list[int], labels: list[int] | None, seed: int = 0, noise: float = 0.0) -> dict:
        """Fitted on `labels` (None: every question's, flipped), its threshold chosen on them; its out-of-fold rates
        judged by the gold labels."""
        clean = [qs[i].text in reviewed for i in pick] if labels is not None else None  # flipped: none clean
        labels = labels if labels is not None else flipped(seed)
        _, _, p = calibrate.out_of_fold([rows[i] for i in pick], labels, seed=seed)
        counted = calibrate.unbiased_labels(np.asarray(labels), noise, clean)
        return calibrate.rates(p, np.asarray([gold[i] for i in pick]), calibrate.choose_threshold(p, counted, point))

    def shuffled(pick: list[int], labels: list[int] | None, noise: float = 0.0) -> str:
        runs = [rates(pick, labels, seed, noise) for seed in range(shuffles)]
        return ", ".join(f"{k} {statistics.mean(r[k] for r in runs):.4f} ± {statistics.stdev(r[k] for r in runs):.4f}"
                         for k in ("answer_rate", "abstain_rate"))

    def flipped(seed: int) -> list[int]:
        draw = random.Random(seed)
        return [1 - g if draw.random() < flip else g for g in gold]

    rng, spread = random.Random(0), {"answer_rate": [], "abstain_rate": []}
    for _ in range(20):
        pick = rng.sample(range(len(qs)), len(own))
        result = rates(pick, [gold[i] for i in pick])
        for k, values in spread.items():
            values.append(result[k])
    agree = sum(r == gold[i] for r, i in zip(ratings, own))
    return [f"over {shuffles} fold splits (mean ± sd):",
            f"  re-fit, rating labels ({len(own)} questions, {agree} labels agree with gold; judged by gold): "
            f"{shuffled(own, ratings)}",
            *([f"  the same, allowing for the ratings' noise as the run did ({noise:.4f}): "
               f"{shuffled(own, ratings, noise)}"] if noise else []),
            f"  the same {len(own)} questions, gold labels:  {shuffled(own, [gold[i] for i in own])}",
            f"  every question ({len(qs)}), gold labels (`ragship calibrate`): {shuffled(list(range(len(qs))), gold)}",
            *([f"  every question, gold labels with {flip:.0%} flipped at random, taken as right: "
               f"{shuffled(list(range(len(qs))), None)}",
               f"  the same, allowing for {flip:.0%} noise: {shuffled(list(range(len(qs))), None, flip)}"]
              if flip else []),
            f"the same fit on {len(own)} random questions with gold labels, 20 draws (one split each): "
            + json.dumps({k: {"min": min(v), "median": statistics.median(v), "max": max(v)}
                          for k, v in spread.items()})]


def _trained(home: Path, report: dict) -> dict[str, int]:
    """The labeled set's training side (the calibration was fitted on it): question id → 1 answerable, 0 not."""
    from ragship.evaluate.beir import read_queries

    name = (report.get("dataset") or {}).get("name")  # relative to the home: datasets/NNNN
    train = home / name / "train" if name else None
    if not train or not (train / "queries.jsonl").is_file():
        return {}
    unanswerable = train / "queries_unanswerable.jsonl"
    unanswerable_ids = set(read_queries(unanswerable)) if unanswerable.is_file() else set()
    return {i: int(i not in unanswerable_ids) for i in read_queries(train / "queries.jsonl")}


if __name__ == "__main__":
    main()

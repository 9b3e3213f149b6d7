"""How steady each answer.abstain_target is on CLAP NQ dev (calibration and evaluation only; never trained on).

The calibration is fitted again and again on a random part of the labeled questions (as an improvement run fits
on the ratings it has) and its threshold applied to the questions it did not see. Printed per operating point:
the out-of-fold rates the fit reports, and the rates on the unseen questions, as 10th percentile / median / 90th
percentile over the draws. A steady operating point keeps both narrow; the rule that wanders is the one whose
figures a user cannot plan on.

    python benchmarks/abstain_targets.py [--home DIR] [--draws 50] [--size 229] [--data DIR]

--home reuses a home whose live version holds clapnq-dev's corpus (else it is ingested into a temporary one);
--data names another BEIR folder with answerable and unanswerable questions (clapnq-dev's layout).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
from pathlib import Path

import numpy as np

from ragship.testing.bench import commit

ROOT = Path(__file__).resolve().parents[1]
CLAP = ROOT.parent / "shared" / "datasets" / "clapnq-dev"
TARGETS = ("precision >= 0.85", "precision >= 0.9", "abstain >= 0.7", "abstain >= 0.8", "answer >= 0.9")


def feature_rows(home: Path | None, data: Path = CLAP) -> tuple[list[dict], np.ndarray]:
    from ragship.engine import Engine
    from ragship.evaluate.answers import load_questions
    from ragship.evaluate.beir import load_dataset
    from ragship.settings import load_settings

    dataset = load_dataset(data, "test")
    engine = Engine(load_settings(home=home or Path(tempfile.mkdtemp(prefix="abstain-targets-"))))
    if home is None:
        engine.release(engine.ingest([dataset.corpus]))
    answerer, questions = engine.answerer(), load_questions(dataset)
    rows = [answerer.assess(q.text, engine.context(q.text)).features for q in questions]
    return rows, np.asarray([int(q.answerable) for q in questions])


def draws(rows: list[dict], y: np.ndarray, target: str, size: int, n: int) -> dict[str, list[float]]:
    from ragship.answer.calibrate import fit, rates
    from ragship.types import AbstainTarget

    rng, found = random.Random(0), {k: [] for k in ("oof answer", "oof abstain", "unseen answer", "unseen abstain")}
    for _ in range(n):
        pick = set(rng.sample(range(len(rows)), size))
        c = fit([rows[i] for i in sorted(pick)], [int(y[i]) for i in sorted(pick)], AbstainTarget.parse(target))
        rest = [i for i in range(len(rows)) if i not in pick]
        unseen = rates(np.asarray([c.predict(rows[i]) for i in rest]), y[rest], c.threshold)
        for k, v in (("oof answer", c.validation["answer_rate"]), ("oof abstain", c.validation["abstain_rate"]),
                     ("unseen answer", unseen["answer_rate"]), ("unseen abstain", unseen["abstain_rate"])):
            found[k].append(v)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--home", type=Path)
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--size", type=int, default=229, help="questions each fit sees (an improvement run had 229)")
    ap.add_argument("--data", type=Path, default=CLAP, help="the labeled questions and their corpus")
    a = ap.parse_args()
    if not a.data.is_dir():
        raise SystemExit(f"{a.data} not found: this benchmark needs ../shared/datasets/clapnq-dev")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; data: {a.data}; commit "
          f"{commit(ROOT)}; {a.draws} draws of {a.size} questions; the rest unseen")
    rows, y = feature_rows(a.home, a.data)
    print("| abstain_target | OOF answered | OOF abstained | unseen answered | unseen abstained |")
    print("|---|---|---|---|---|")
    for target in TARGETS:
        found = draws(rows, y, target, a.size, a.draws)
        cells = [" / ".join(f"{q:.2f}" for q in np.percentile(v, [10, 50, 90])) for v in found.values()]
        print(f"| {target} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""Answer confidence: P(the retrieved sources answer the question), from evidence features, by a logistic
regression fitted with `ragship calibrate` on labeled answerable and unanswerable questions.

The threshold is chosen on out-of-fold predictions (5-fold cross-validation, so the figures printed are those of
unseen questions) for the operating point the user asks for (`answer.abstain_target`): answerable questions
answered at least so often ("answer >= 0.9", the default), or unanswerable ones abstained on ("abstain >= 0.8"), or
abstentions right at least so often ("precision >= 0.85", the rule before issue 35, which wandered most from one
sample of questions to the next); the other rates it implies are reported beside it.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ragship.errors import ConfigError
from ragship.fsio import atomic_write_json, corrupt, read_json
from ragship.types import AbstainTarget
from ragship.util.files import FileCache

# type_match (does the best sentence hold a date for "when", a number for "how many"...) was dropped: its AUC on
# clapnq-dev was 0.52, no signal (ADR 0008).
FEATURES = ("semantic", "lexical", "support_gap", "dense_top", "dense_margin", "bm25_top", "bm25_margin",
            "fused_margin", "agreement", "same_top", "rerank_top", "rerank_margin")
AGREEMENT_DEPTH = 5  # top documents of each retriever compared for "agreement"
# with a QA model (answer.qa_model): its answerability of the best passage, of the top passage, the gap between the
# best two passages, and the best passage's SQuAD 2.0 span margin (named as calibration files store them, from
# when the QA model was called the reader)
QA_FEATURES = ("reader_best", "reader_first", "reader_gap", "reader_margin")
PRIOR_FEATURE = "question_prior"  # with a question prior (QuestionPrior): its logit for the question alone


def logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def qa_features(readings) -> dict[str, float]:
    ranked = sorted(readings, key=lambda r: -r.answerability)
    if not ranked:
        return {"reader_best": -10.0, "reader_first": -10.0, "reader_gap": 0.0, "reader_margin": -10.0}
    return {"reader_best": ranked[0].answerability, "reader_first": readings[0].answerability,
            "reader_gap": ranked[0].answerability - (ranked[1].answerability if len(ranked) > 1 else -10.0),
            "reader_margin": ranked[0].margin}


def signals(ranked: dict[str, list[dict]]) -> dict[str, float]:
    """How strong and how consistent the retrieval evidence is, from the head of each ranking a search returned
    (SearchResult.ranked): top scores, margins to the next result, and whether dense and BM25 agree."""

    def top(name: str, i: int = 0) -> float:
        rows = ranked.get(name) or []
        return float(rows[i]["_score"]) if len(rows) > i else 0.0

    dense, lexical = ranked.get("dense") or [], ranked.get("bm25") or []
    out = {"fused_top": top("fused"), "fused_margin": top("fused") - top("fused", 1)}
    if dense:
        out |= {"dense_top": top("dense"), "dense_margin": top("dense") - top("dense", 1)}
    if lexical:
        out |= {"bm25_top": top("bm25"), "bm25_margin": (top("bm25") - top("bm25", 1)) / max(top("bm25"), 1e-9)}
    if dense and lexical:
        a = {r["doc_id"] for r in dense[:AGREEMENT_DEPTH]}
        b = {r["doc_id"] for r in lexical[:AGREEMENT_DEPTH]}
        out["agreement"] = len(a & b) / len(a | b)
        out["same_top"] = float(dense[0]["doc_id"] == lexical[0]["doc_id"])
    if "rerank" in ranked:
        out |= {"rerank_top": top("rerank"), "rerank_margin": top("rerank") - top("rerank", 1)}
    return out


def features(ranked: dict[str, list[dict]], best: Any, second_support: float) -> dict[str, float]:
    """The model's inputs for one question: the best quotable sentence's support (`best`, a scored Sentence, or
    None) and the retrieval evidence."""
    semantic, lexical, support = (best.semantic, best.lexical, best.support) if best else (0.0, 0.0, 0.0)
    found = signals(ranked)
    return {
        "semantic": semantic, "lexical": lexical, "support_gap": support - second_support,
        "dense_top": found.get("dense_top", 0.0), "dense_margin": found.get("dense_margin", 0.0),
        "bm25_top": math.log1p(max(found.get("bm25_top", 0.0), 0.0)), "bm25_margin": found.get("bm25_margin", 0.0),
        "fused_margin": found.get("fused_margin", 0.0) / max(found.get("fused_top", 0.0), 1e-9),
        "agreement": found.get("agreement", 0.0), "same_top": found.get("same_top", 0.0),
        "rerank_top": found.get("rerank_top", 0.0), "rerank_margin": found.get("rerank_margin", 0.0),
    }


@dataclass
class QuestionPrior:
    """P(answerable) from the question alone: a logistic regression on the embedding model's vector of the question,
    fitted on questions labeled answerable or not, with no passages (`ragship calibrate DATA --questions FOLDER`).
    Weak alone (AUC 0.58 on CLAP NQ dev), it adds what retrieval cannot see: the kind of question that has no
    answer (ADR 0014)."""
    model: str  # the embedding model whose vectors it reads
    coef: list[float]
    intercept: float
    questions: dict[str, Any] = field(default_factory=dict)  # where they came from, how many of each

    def logit(self, vector: np.ndarray) -> float:
        return float(np.dot(self.coef, vector) + self.intercept)


def fit_prior(vectors: np.ndarray, labels: list[int], model: str, source: str) -> QuestionPrior:
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=1.0, max_iter=2000).fit(vectors, labels)
    return QuestionPrior(model=model, coef=fitted.coef_[0].tolist(), intercept=float(fitted.intercept_[0]),
                         questions={"source": source, "answerable": sum(labels),
                                    "unanswerable": len(labels) - sum(labels)})


@dataclass
class Calibration:
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float
    target: str  # the operating point the threshold was chosen for (AbstainTarget)
    fitted_on: dict[str, Any] = field(default_factory=dict)  # dataset, counts, version, date
    validation: dict[str, Any] = field(default_factory=dict)  # out-of-fold rates and the reliability table
    prior: QuestionPrior | None = None  # the question prior behind PRIOR_FEATURE, when it is one of `features`

    def __post_init__(self):
        if isinstance(self.prior, dict):  # as read from the file
            self.prior = QuestionPrior(**self.prior)

    def predict(self, x: dict[str, float]) -> float:
        return logistic(sum(self.contributions(x).values()))

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        """The confidence's logit by part: the base rate, the retrieval and support features, the QA model's, the
        question prior's."""
        parts = {"base": self.intercept, "retrieval": 0.0}
        for f, m, s, c in zip(self.features, self.mean, self.scale, self.coef):
            part = "qa_model" if f in QA_FEATURES else "question" if f == PRIOR_FEATURE else "retrieval"
            parts[part] = parts.get(part, 0.0) + c * (x.get(f, 0.0) - m) / s
        return parts

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        data = read_json(path)
        if isinstance(data, dict) and "target_precision" in data:  # written before operating points (issue 35)
            data["target"] = str(AbstainTarget("precision", data.pop("target_precision")))
        try:
            return cls(**data)
        except TypeError as e:
            raise corrupt(path, f"{e}; or run `ragship calibrate DATASET` again") from None


def fit(rows: list[dict[str, float]], labels: list[int], target: AbstainTarget, folds: int = 5,
        seed: int = 0, noise: float = 0.0, clean: list[bool] | None = None) -> Calibration:
    """Fit on all rows; choose the threshold and report rates on out-of-fold predictions. `noise`: the share of
    labels believed wrong (ratings; `clean` marks the rows whose label is not, e.g. an editor's review): the
    threshold is then chosen on rates counted as the true labels would give them on average (`unbiased_labels`)."""
    y = np.asarray(labels)
    names, x, oof = out_of_fold(rows, labels, folds, seed)
    counted = unbiased_labels(y, noise, clean)
    threshold = choose_threshold(oof, counted, target)
    model = _model().fit(x, y)
    scaler, lr = model[0], model[1]
    return Calibration(
        features=names, mean=scaler.mean_.tolist(), scale=scaler.scale_.tolist(),
        coef=lr.coef_[0].tolist(), intercept=float(lr.intercept_[0]), threshold=round(threshold, 4),
        target=str(target),
        validation={"folds": folds, **rates(oof, counted, threshold), "label_noise": round(noise, 4),
                    "reliability": reliability(oof, y)},
    )


def unbiased_labels(y: np.ndarray, noise: float, clean: list[bool] | None = None) -> np.ndarray:
    """Labels to count rates with when a share `noise` of those not `clean` is flipped at random (ADR 0021, "Noisy
    ratings"): each such label counts (y - noise) / (1 - 2 noise) as answerable and the rest as unanswerable (above
    1 or below 0: what flipped labels add to one side is taken back), so that a rate counted with them is on
    average the rate the true labels give (Natarajan et al., "Learning with noisy labels", 2013). With no noise, or
    for the `clean` rows, the label itself."""
    y = np.asarray(y, dtype=np.float64)
    if noise <= 0.0:
        return y
    if noise >= 0.5:
        raise ConfigError(f"a label noise of {noise:g} leaves the labels no information: it must be below 0.5")
    counted = (y - noise) / (1.0 - 2.0 * noise)
    return np.where(np.asarray(clean, dtype=bool), y, counted) if clean is not None else counted


def out_of_fold(rows: list[dict[str, float]], labels: list[int], folds: int = 5,
                seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(feature names, the feature matrix, each row's confidence from a model fitted without its fold)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.asarray(labels)
    if len(set(labels)) < 2 or min(np.bincount(y)) < folds:
        raise ConfigError(f"calibration needs at least {folds} answerable and {folds} unanswerable questions")
    names = list(FEATURES) + [f for f in (*QA_FEATURES, PRIOR_FEATURE) if rows and all(f in r for r in rows)]
    x = np.asarray([[r[f] for f in names] for r in rows], dtype=np.float64)
    oof = cross_val_predict(_model(), x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                            method="predict_proba")[:, 1]
    return names, x, oof


def _model():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def choose_threshold(p: np.ndarray, y: np.ndarray, target: AbstainTarget) -> float:
    """The threshold (abstain when p < t) meeting `target` that answers most ("abstain": the lowest abstaining on
    enough unanswerable questions, y = 0) or abstains most ("precision": the highest whose abstentions are right
    often enough; "answer": the highest still answering enough answerable ones, y = 1). `y` may count each question
    as answerable by a share (unbiased_labels)."""
    y = np.asarray(y, dtype=np.float64)
    candidates = np.unique(np.concatenate([p, [1.0]]))
    if target.rate == "abstain":
        return float(next((t for t in candidates if _rates(p, y, t)["abstain_rate"] >= target.value), 1.0))
    best = 0.0
    for t in candidates:
        r = _rates(p, y, t)
        if target.rate == "answer" and r["answer_rate"] >= target.value:
            best = float(t)
        elif target.rate == "precision" and (p < t).any() and r["abstain_precision"] >= target.value:
            best = float(t)
    return best


def rates(p: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    """Answer rate (of answerable questions), abstain rate (of unanswerable ones) and abstention precision at
    `threshold`; `y` as in choose_threshold."""
    return {k: round(v, 4) for k, v in _rates(p, np.asarray(y, dtype=np.float64), threshold).items()}


def _rates(p: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    abstain = np.asarray(p) < threshold
    no = 1.0 - y
    return {"answer_rate": float((y * ~abstain).sum() / y.sum()) if y.sum() else float("nan"),
            "abstain_rate": float((no * abstain).sum() / no.sum()) if no.sum() else float("nan"),
            "abstain_precision": float((no * abstain).sum() / abstain.sum()) if abstain.any() else 1.0}


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Per confidence bin: how many questions, their mean confidence, and how many were in fact answerable."""
    table = []
    for i in range(bins):
        lo, hi = i / bins, (i + 1) / bins
        inside = (p >= lo) & ((p < hi) if i < bins - 1 else (p <= hi))
        if inside.any():
            table.append({"bin": f"{lo:.1f}-{hi:.1f}", "questions": int(inside.sum()),
                          "mean_confidence": round(float(p[inside].mean()), 3),
                          "answerable": round(float(y[inside].mean()), 3)})
    return table


class CalibrationStore:
    """Calibrations kept with the index version they were fitted on (HOME/index/calibration/VERSION.json). The
    one in force for a version is its own, else the newest fitted on an earlier version (by number) that
    `passed_over` does not rule out (a refused candidate's: fitted on another model's scores); re-read when it
    changes."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._loaded: dict[Path, FileCache[Calibration]] = {}

    def path(self, version: str) -> Path:
        return self.folder / f"{version}.json"

    def save(self, calibration: Calibration, version: str) -> None:
        calibration.save(self.path(version))

    def current(self, version: str | None, passed_over: Callable[[str], bool] = lambda v: False
                ) -> Calibration | None:
        path = self.path(version) if version else None
        if path is None or not path.exists():
            path = self._earlier(version, passed_over)
        if path is None:
            return None
        return self._loaded.setdefault(path, FileCache(path, Calibration.load)).get()

    def _earlier(self, version: str | None, passed_over: Callable[[str], bool]) -> Path | None:
        limit = _number(version) if version else math.inf
        if limit is None:  # not a version id: no version is earlier than it
            return None
        found = [(n, p) for p in (self.folder.glob("v*.json") if self.folder.is_dir() else [])
                 if (n := _number(p.stem)) is not None and n <= limit and not passed_over(p.stem)]
        return max(found)[1] if found else None

    def status(self, live_version: str | None, passed_over: Callable[[str], bool] = lambda v: False
               ) -> dict[str, Any] | None:
        """What `ragship status` shows: where the calibration in force was fitted, its threshold and rates."""
        c = self.current(live_version, passed_over)
        if c is None:
            return None
        return {"fitted_on": c.fitted_on, "threshold": c.threshold, "target": c.target,
                "question_prior": c.prior.questions if c.prior else None,
                "validation": {k: v for k, v in c.validation.items() if k != "reliability"},
                "current": bool(live_version) and c.fitted_on.get("version") == live_version}


def _number(version: str) -> int | None:
    """3 for "v3"; None for a name that is not a version id."""
    m = re.fullmatch(r"v(\d+)", version or "")
    return int(m[1]) if m else None

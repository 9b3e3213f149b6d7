"""Answer confidence: P(the retrieved sources answer the question), from evidence features, by a logistic
regression fitted with `ragship calibrate` on labeled answerable and unanswerable questions.

The threshold is chosen on out-of-fold predictions (5-fold cross-validation, so the figures printed are those of
unseen questions) as the highest one whose abstentions are still at least `target_precision` unanswerable.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragship.errors import ConfigError
from ragship.fsio import atomic_write_json, read_json

FEATURES = ("semantic", "lexical", "support_gap", "type_match", "dense_top", "dense_margin", "bm25_top",
            "bm25_margin", "fused_margin", "agreement", "same_top", "rerank_top", "rerank_margin")

_YEAR_OR_DATE = re.compile(r"\b(1\d{3}|20\d{2})\b|\b(january|february|march|april|may|june|july|august|september|"
                           r"october|november|december|century|decade|bc|ad)\b", re.I)
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|"
                     r"dozen|several|many)\b", re.I)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")


def type_match(question: str, sentence: str) -> float:
    """1 when the sentence holds the kind of thing the question asks for (a date for "when", a number for
    "how many", a name for "who"/"where"); 1 for questions that expect no particular kind."""
    q = question.lower()
    if re.search(r"\bwhen\b|what year|which year|what date|what time", q):
        return float(bool(_YEAR_OR_DATE.search(sentence)))
    if re.search(r"how (many|much|long|old|far|big|tall|often)|what percent|number of", q):
        return float(bool(_NUMBER.search(sentence)))
    if re.search(r"^\s*(who|where)\b|\bwho (is|was|are|were|played|sang|wrote)\b", q):
        return float(bool(_NAME.search(sentence)))
    return 1.0


def features(question: str, signals: dict[str, float], best: Any, sentence: str,
             second_support: float) -> dict[str, float]:
    """The model's inputs for one question: the best quotable sentence's support (`best`, a scored Sentence, and
    its text) and the retrieval signals."""
    semantic, lexical, support = (best.semantic, best.lexical, best.support) if best else (0.0, 0.0, 0.0)
    return {
        "semantic": semantic, "lexical": lexical, "support_gap": support - second_support,
        "type_match": type_match(question, sentence),
        "dense_top": signals.get("dense_top", 0.0), "dense_margin": signals.get("dense_margin", 0.0),
        "bm25_top": math.log1p(max(signals.get("bm25_top", 0.0), 0.0)), "bm25_margin": signals.get("bm25_margin", 0.0),
        "fused_margin": signals.get("fused_margin", 0.0) / max(signals.get("fused_top", 0.0), 1e-9),
        "agreement": signals.get("agreement", 0.0), "same_top": signals.get("same_top", 0.0),
        "rerank_top": signals.get("rerank_top", 0.0), "rerank_margin": signals.get("rerank_margin", 0.0),
    }


@dataclass
class Calibration:
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float
    target_precision: float
    fitted_on: dict[str, Any] = field(default_factory=dict)  # dataset, counts, version, date
    validation: dict[str, Any] = field(default_factory=dict)  # out-of-fold rates and the reliability table

    def predict(self, x: dict[str, float]) -> float:
        z = self.intercept + sum(c * (x.get(f, 0.0) - m) / s
                                 for f, m, s, c in zip(self.features, self.mean, self.scale, self.coef))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            return cls(**read_json(path))
        except TypeError as e:
            raise ConfigError(f"{path}: not a calibration file ({e}); run `ragship calibrate DATASET` again") from None


def fit(rows: list[dict[str, float]], labels: list[int], target_precision: float, folds: int = 5,
        seed: int = 0) -> Calibration:
    """Fit on all rows; choose the threshold and report rates on out-of-fold predictions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(labels)
    if len(set(labels)) < 2 or min(np.bincount(y)) < folds:
        raise ConfigError(f"calibration needs at least {folds} answerable and {folds} unanswerable questions")
    x = np.asarray([[r[f] for f in FEATURES] for r in rows], dtype=np.float64)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    oof = cross_val_predict(model, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                            method="predict_proba")[:, 1]
    threshold = choose_threshold(oof, y, target_precision)
    model.fit(x, y)
    scaler, lr = model[0], model[1]
    return Calibration(
        features=list(FEATURES), mean=scaler.mean_.tolist(), scale=scaler.scale_.tolist(),
        coef=lr.coef_[0].tolist(), intercept=float(lr.intercept_[0]), threshold=round(threshold, 4),
        target_precision=target_precision,
        validation={"folds": folds, **rates(oof, y, threshold), "reliability": reliability(oof, y)},
    )


def choose_threshold(p: np.ndarray, y: np.ndarray, target_precision: float) -> float:
    """The highest threshold whose abstentions (p < t) are at least `target_precision` unanswerable (y = 0)."""
    best = 0.0
    for t in np.unique(np.concatenate([p, [1.0]])):
        abstain = p < t
        if abstain.any() and (y[abstain] == 0).mean() >= target_precision:
            best = float(t)
    return best


def rates(p: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    abstain = p < threshold
    return {
        "answer_rate": round(float((~abstain[y == 1]).mean()), 4),
        "abstain_rate": round(float(abstain[y == 0].mean()), 4),
        "abstain_precision": round(float((y[abstain] == 0).mean()), 4) if abstain.any() else 1.0,
    }


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
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

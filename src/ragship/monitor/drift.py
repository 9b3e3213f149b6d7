"""Drift: are users asking other things than before, and does retrieval fare worse on them?

- query drift: the newest `recent` query embeddings against `reference` ones logged after the reference was
  set, by maximum mean discrepancy with a Gaussian kernel (bandwidth: the median distance) and a permutation
  p-value (Gretton et al. 2012). The embeddings are the ones the query log keeps (float16).
- retrieval-score drift: two-sample Kolmogorov-Smirnov tests on the top dense score and its margin.
- topics: the recent queries that were abstained on, found nothing, or were answered with low confidence; those
  unlike any reference query (new subjects) clustered by k-means, each group with example questions.

The report always carries the business metrics of both windows, so a signal comes with what it did to users.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sqlalchemy import select

from ragship.access import LOCAL, Principal, topics_for
from ragship.monitor.events import Events
from ragship.monitor.querylog import QueryLog
from ragship.monitor.windows import business
from ragship.state.tables import DRIFT_REFERENCE, upsert
from ragship.util import actor

LOW_CONFIDENCE = 0.5
MOVED = {"rate": 0.05, "ms": 0.20}  # a rate moving 5 points, a latency 20 %: shown as moved
HIGHER_IS_BETTER = ("answer_rate", "positive_feedback_rate")  # every other rate, and latency, is better lower


def direction(metric: str, before: float, after: float) -> str:
    """Whether a business metric moving from `before` to `after` is "better" or "worse" for users (p95 865 → 559 ms
    is better, not just moved: issue 49, finding 9)."""
    return "better" if (after > before) == (metric in HIGHER_IS_BETTER) else "worse"


def mmd_test(x: np.ndarray, y: np.ndarray, permutations: int = 2000, seed: int = 0) -> tuple[float, float]:
    """MMD² (biased estimate) between the rows of x and y, and its permutation p-value."""
    z = np.vstack([x, y]).astype(np.float64)
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    off = d2[~np.eye(len(z), dtype=bool)]
    kernel = np.exp(-d2 / max(np.median(off), 1e-12))
    signs = np.concatenate([np.full(len(x), 1 / len(x)), np.full(len(y), -1 / len(y))])
    stat = float(signs @ kernel @ signs)
    rng = np.random.default_rng(seed)
    shuffled = np.stack([rng.permutation(signs) for _ in range(permutations)])
    null = np.einsum("ij,ij->i", shuffled @ kernel, shuffled)
    return stat, float((1 + np.sum(null >= stat - 1e-12)) / (1 + permutations))


def ks_test(a: list[float], b: list[float]) -> dict[str, Any]:
    from scipy.stats import ks_2samp

    a, b = [v for v in a if v is not None], [v for v in b if v is not None]
    if len(a) < 10 or len(b) < 10:
        return {"statistic": None, "p_value": None, "reference_mean": None, "recent_mean": None}
    test = ks_2samp(a, b)
    return {"statistic": round(float(test.statistic), 4), "p_value": float(test.pvalue),
            "reference_mean": round(float(np.mean(a)), 4), "recent_mean": round(float(np.mean(b)), 4)}


def topics(vectors: np.ndarray, rows: list[dict[str, Any]], reference: np.ndarray | None = None,
           examples: int = 3) -> list[dict[str, Any]]:
    """The struggling queries among `rows` (abstained, nothing found, low confidence), grouped: first the ones
    on new subjects (farther from every reference query than 95 % of reference queries are from their nearest
    neighbour), clustered by k-means, then the usual hard ones; each group with the questions nearest its
    centre as examples."""
    weak = [i for i, r in enumerate(rows) if r["outcome"] in ("abstained", "no_result")
            or (r["confidence"] is not None and r["confidence"] < LOW_CONFIDENCE)]
    if len(weak) < 5:
        return []
    points = vectors[weak]
    novel = np.zeros(len(weak), dtype=bool)
    if reference is not None and len(reference) > 1:
        own = reference @ reference.T
        np.fill_diagonal(own, -1.0)
        novel = (points @ reference.T).max(axis=1) < np.percentile(own.max(axis=1), 5)
    out = []
    for new_subject in (True, False):
        members = np.flatnonzero(novel == new_subject)
        if len(members):
            out += _groups(points[members], [rows[weak[i]] for i in members], len(rows), new_subject, examples)
    return out


def _groups(points: np.ndarray, rows: list[dict[str, Any]], total: int, new_subject: bool,
            examples: int) -> list[dict[str, Any]]:
    from sklearn.cluster import KMeans

    k = min(5, max(1, len(points) // 15)) if new_subject else 1
    model = KMeans(n_clusters=k, n_init=4, random_state=0).fit(points)
    out = []
    for c in range(k):
        members = np.flatnonzero(model.labels_ == c)
        nearest = members[np.argsort(np.linalg.norm(points[members] - model.cluster_centers_[c], axis=1))]
        out.append({"new_subject": new_subject, "size": int(len(members)),
                    "share_of_recent": round(len(members) / total, 3),
                    "examples": [rows[i]["question"] for i in nearest[:examples]]})
    return sorted(out, key=lambda t: -t["size"])


class Drift:
    """Drift of one collection's queries, with its reference kept in the query log's database."""

    def __init__(self, log: QueryLog, collection: str, settings):
        self.log, self.collection, self.s = log, collection, settings

    def reference(self) -> dict[str, Any]:
        d = DRIFT_REFERENCE.c
        rows = self.log.state.rows(select(d.since, d.version, d.reason, d.set_at).where(
            d.collection == self.collection))
        if rows:
            return dict(zip(("since", "version", "reason", "set_at"), rows[0]))
        return {"since": 0.0, "version": None, "reason": "the first queries logged", "set_at": 0.0}

    def reset(self, reason: str, version: str | None = None, at: float | None = None,
              by: str = actor.MONITOR) -> dict[str, Any]:
        """Start a new reference window from now (or `at`): the next `reference` queries; `by`: who (util/actor.py),
        the monitor's policy unless a person reset it."""
        at = time.time() if at is None else at
        version = version if version is not None else self.reference()["version"]
        with self.log.state.ready() as c:
            upsert(c, DRIFT_REFERENCE, {"collection": self.collection, "since": at, "version": version,
                                        "reason": reason, "set_at": time.time()}, ("collection",))
        Events(self.log).record(self.collection, "drift reset", f"new drift reference window: {reason}", by)
        return self.reference()

    def apply_policy(self, live_version: str | None, max_age_s: float, changed_retrieval: bool,
                     drifting: bool) -> str | None:
        """Move the reference as monitor.reset_on_release and reference_max_age say, in the monitor round: after a
        release that changed retrieval (`changed_retrieval`: another model or chunking; a release that only added
        or removed documents keeps the window and follows the version), or when it is too old. Never while the
        traffic is `drifting`: a drifting window is not adopted as the new normal (a person can still reset). The
        reason a reset is held back, else None."""
        ref = self.reference()
        if not ref["set_at"]:  # never set: the first queries logged, served by the live version
            self.reset(ref["reason"], live_version, at=0.0)
            return None
        released = live_version if live_version and ref["version"] != live_version else None  # since the reference
        if released and not changed_retrieval:
            self._follow(released)
        wanted = None
        if released and changed_retrieval and self.s.reset_on_release:
            wanted = f"release {released} changed retrieval (was {ref['version']})"
        elif time.time() - ref["set_at"] > max_age_s:
            wanted = "the reference was older than monitor.reference_max_age"
        if wanted and drifting:
            return f"{wanted}; held back while the traffic drifts (reset by hand once it is known good)"
        if wanted:
            self.reset(wanted, live_version)
        return None

    def _follow(self, version: str) -> None:
        """The live version changed without changing retrieval: same window, newer version."""
        with self.log.state.ready() as c:
            c.execute(DRIFT_REFERENCE.update().where(DRIFT_REFERENCE.c.collection == self.collection).values(
                version=version))

    def report(self, viewer: Principal = LOCAL) -> dict[str, Any]:
        """The drift report: both windows, the three signals, and the business metrics that moved; the topics'
        example questions only where `viewer` may read them (access.topics_for)."""
        ref = self.reference()
        ref_vec, ref_rows = self.log.vectors(self.collection, ref["since"], limit=self.s.reference)
        out: dict[str, Any] = {"collection": self.collection, "reference": {**ref, "queries": len(ref_rows)},
                               "query": {"p_value": None}, "scores": {}, "margin": {}, "topics": [],
                               "business": {}, "moved": [], "directions": {}}
        if len(ref_rows) < self.s.reference:
            out["status"] = f"collecting the reference: {len(ref_rows)} of {self.s.reference} queries"
            return out
        cur_vec, cur_rows = self.log.vectors(self.collection, ref_rows[-1]["ts"] + 1e-6, limit=self.s.recent,
                                             newest=True)
        out["recent"] = {"queries": len(cur_rows), "since": cur_rows[0]["ts"] if cur_rows else None}
        if len(cur_rows) < self.s.recent:
            out["status"] = f"collecting recent queries: {len(cur_rows)} of {self.s.recent}"
            return out
        stat, p = mmd_test(ref_vec, cur_vec, self.s.permutations)
        out["status"] = "measured"
        out["query"] = {"mmd2": round(stat, 6), "p_value": p, "permutations": self.s.permutations}
        out["scores"] = ks_test([r["top_score"] for r in ref_rows], [r["top_score"] for r in cur_rows])
        out["margin"] = ks_test([r["margin"] for r in ref_rows], [r["margin"] for r in cur_rows])
        out["topics"] = topics_for(viewer, topics(cur_vec, cur_rows, ref_vec))
        out["business"], out["moved"] = self._business(ref_rows, cur_rows)
        before, after = out["business"]["reference"], out["business"]["recent"]
        out["directions"] = {m: direction(m, before[m], after[m]) for m in out["moved"]}
        return out

    def _business(self, ref_rows, cur_rows) -> tuple[dict[str, Any], list[str]]:
        floor = min(10, self.s.min_requests)
        before = business(self.log, self.collection, ref_rows[0]["ts"], ref_rows[-1]["ts"] + 1e-6, floor)
        after = business(self.log, self.collection, cur_rows[0]["ts"], cur_rows[-1]["ts"] + 1e-6, floor)
        moved = []
        for metric, a in before.items():
            b = after.get(metric)
            if a is None or b is None or metric in ("requests", "feedback"):
                continue
            if (metric.endswith("_ms") and a and abs(b / a - 1) >= MOVED["ms"]) or \
                    (metric.endswith("_rate") and abs(b - a) >= MOVED["rate"]):
                moved.append(metric)
        return {"reference": before, "recent": after}, moved

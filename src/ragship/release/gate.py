"""The release gate: does a candidate lose against the live version, beyond a tolerance, more than noise
explains? Decided per metric with a paired test over the same queries, not on the means alone.

- quality metrics (nDCG@10, Recall@100, answer and abstain rates, citation precision), higher is better: the
  per-query differences d = candidate − live; a regression is a one-sided paired t-test rejecting
  mean(d) ≥ −tolerance at `significance` (scipy `ttest_1samp(d + tolerance, 0, alternative="less")`).
- p95 latency, lower is better: the ratio of the candidate's p95 to the live one's, with a paired bootstrap
  over queries (2,000 resamples, seeded); a regression when fewer than `significance` of the resamples keep
  the ratio within 1 + tolerance.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

LOSERS_SHOWN = 10
BOOTSTRAP = 2000


@dataclass
class Check:
    metric: str
    live: float
    candidate: float
    change: float  # candidate − live (latency: candidate / live − 1)
    tolerance: float
    p_value: float
    queries: int
    regressed: bool
    p_gain: float | None = None  # one-sided p of "no gain" (mean difference <= 0): quality metrics only


@dataclass
class GateReport:
    candidate: str
    live: str
    golden: str
    checks: list[Check]
    losers: list[dict[str, Any]] = field(default_factory=list)  # queries whose nDCG@10 fell most
    at: str = ""
    operating_point: str = ""  # how the answer rates were compared when the two sides' calibrations differ

    @property
    def passed(self) -> bool:
        return not any(c.regressed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GateReport:
        """A report as to_dict wrote it (its JSON file)."""
        fields = {k: v for k, v in d.items() if k != "passed"}
        return cls(**{**fields, "checks": [Check(**c) for c in d["checks"]]})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def markdown(self) -> str:
        verdict = "passed" if self.passed else "**refused**"
        lines = [f"# Gate: {self.candidate} against live {self.live} ({verdict})", "",
                 f"- golden set: {self.golden}; {self.at}",
                 *([f"- answers compared at one operating point: {self.operating_point}"]
                   if self.operating_point else []), "",
                 "| metric | live | candidate | change | tolerance | p | queries | |",
                 "|---|---|---|---|---|---|---|---|"]
        for c in self.checks:
            change = f"{c.change:+.1%}" if c.metric == "p95_ms" else f"{c.change:+.4f}"
            tol = f"+{c.tolerance:.0%}" if c.metric == "p95_ms" else f"-{c.tolerance:g}"
            lines.append(f"| {c.metric} | {c.live:.4f} | {c.candidate:.4f} | {change} | {tol} | {c.p_value:.3g} | "
                         f"{c.queries} | {'REGRESSED' if c.regressed else 'ok'} |")
        if self.losers:
            lines += ["", "Queries that lost most (nDCG@10):", "", "| query | live | candidate |", "|---|---|---|"]
            lines += [f"| {(q['query'] or '(not shown: a question outside your groups)')[:80]} | {q['live']:.3f} | "
                      f"{q['candidate']:.3f} |" for q in self.losers]
        return "\n".join(lines) + "\n"


def compare(live: dict[str, dict[str, float]], candidate: dict[str, dict[str, float]],
            tolerances: dict[str, float], significance: float) -> list[Check]:
    """One Check per gated metric both sides measured (per-query dicts keyed by query id)."""
    checks = []
    for metric, tolerance in tolerances.items():
        source = "latency_ms" if metric == "p95_ms" else metric
        common = sorted(set(live.get(source, {})) & set(candidate.get(source, {})))
        if not common:
            continue
        a = np.array([live[source][q] for q in common], dtype=np.float64)
        b = np.array([candidate[source][q] for q in common], dtype=np.float64)
        if metric == "p95_ms":
            (live_value, cand_value, change, p), gain = _latency(a, b, tolerance), None
        else:
            live_value, cand_value, change, p = _quality(a, b, tolerance)
            gain = round(_gain(b - a), 4)
        checks.append(Check(metric, round(live_value, 4), round(cand_value, 4), round(change, 4), tolerance,
                            round(p, 4), len(common), p < significance, gain))
    return checks


def _quality(a: np.ndarray, b: np.ndarray, tolerance: float) -> tuple[float, float, float, float]:
    from scipy.stats import ttest_1samp

    d = b - a
    if np.allclose(d, d[0]):  # no spread: the test is undefined, the difference is exact
        p = 0.0 if d[0] < -tolerance else 1.0
    else:
        p = float(ttest_1samp(d + tolerance, 0.0, alternative="less").pvalue)
    return float(a.mean()), float(b.mean()), float(d.mean()), p


def _gain(d: np.ndarray) -> float:
    """One-sided paired t-test of a gain: the p of mean(d) <= 0 (no spread: 0 when every difference is a gain)."""
    from scipy.stats import ttest_1samp

    if np.allclose(d, d[0]):
        return 0.0 if d[0] > 0 else 1.0
    return float(ttest_1samp(d, 0.0, alternative="greater").pvalue)


def _latency(a: np.ndarray, b: np.ndarray, tolerance: float) -> tuple[float, float, float, float]:
    live, candidate = float(np.percentile(a, 95)), float(np.percentile(b, 95))
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(a), size=(BOOTSTRAP, len(a)))
    ratios = np.percentile(b[idx], 95, axis=1) / np.maximum(np.percentile(a[idx], 95, axis=1), 1e-9)
    p = float((ratios <= 1 + tolerance).mean())
    return live, candidate, candidate / max(live, 1e-9) - 1, p


def losers(live: dict[str, float], candidate: dict[str, float], queries: dict[str, str]) -> list[dict[str, Any]]:
    """The queries whose nDCG@10 fell most, worst first."""
    fell = sorted((candidate[q] - live[q], q) for q in set(live) & set(candidate) if candidate[q] < live[q])
    return [{"id": q, "query": queries.get(q, q), "live": live[q], "candidate": candidate[q]}
            for _, q in fell[:LOSERS_SHOWN]]

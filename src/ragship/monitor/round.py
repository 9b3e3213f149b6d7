"""The alert round: every collection's signals exported to Prometheus, the alert rules' states moved, the webhook
events delivered, the log pruned past its retention, and the drift reference moved by its policy. Several server
processes may share a home: a round runs only in the process that takes the home's monitor lock, so the rules are
evaluated once per round."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock, Timeout

from ragship.monitor import metrics
from ragship.monitor.alerts import Alerts, holds
from ragship.monitor.rules import RECENT, WINDOWED, rules
from ragship.monitor.signals import Signals, Watched
from ragship.settings import duration_s

log = logging.getLogger("ragship.monitor")

PRUNE_EVERY_S = 3600
DRIFT_SIGNALS = ("query_drift_p", "score_drift_p")


class AlertRound:
    def __init__(self, signals: Signals, collections: Callable[[], dict[str, Watched]], lock_path: Path,
                 site: str = ""):
        """`site`: where the alerts' runbook links point (the server's own /runbooks when it serves them)."""
        self.signals, self.collections = signals, collections
        self.log, self.alerts = signals.log, Alerts(signals.log, site)
        self._lock = FileLock(lock_path)
        self._pruned = 0.0

    def tick(self, now: float | None = None) -> dict[str, Any] | None:
        """One round over every collection; None when another process holds the round."""
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return None
        try:
            return self._round(time.time() if now is None else now)
        finally:
            self._lock.release()

    def _round(self, now: float) -> dict[str, Any]:
        collections = self.collections()
        m = next(iter(collections.values())).settings.monitor  # the home's: collections share one log
        if now - self._pruned > PRUNE_EVERY_S:
            self.log.prune(m.retention_days)
            self._pruned = now
        done: dict[str, Any] = {"events": [], "delivery": {}}
        for name, c in collections.items():
            done["events"] += self._evaluate(name, c, now, bool(m.webhook_url))
        if m.webhook_url:  # once per round, every collection's events
            done["delivery"] = self.alerts.deliver(m.webhook_url, m.webhook_timeout_s, m.webhook_give_up_s, now)
        return done

    def _evaluate(self, name: str, c: Watched, now: float, deliver: bool) -> list[dict[str, Any]]:
        """One collection's part of the round: its signals exported, its rules moved, then the drift policy."""
        signals, context = self.signals.of(name, c, now)
        recent = {k: context["window"]["recent"][k] for k in WINDOWED}
        metrics.record_signals(name, signals | {f"{k}{RECENT}": v for k, v in recent.items()})
        events = self.alerts.evaluate(name, rules(c.settings), signals, context, now, deliver, recent)
        for e in events:
            metrics.ALERT_FIRING.labels(name, e["alert"], e["severity"]).set(int(e["event"] == "fired"))
        if not signals["versions_unreadable"]:  # the policy reads the version records
            held = self._move_reference(name, c, signals)
            if held:
                log.warning("%s: drift reference not reset: %s", name, held)
        return events

    def _move_reference(self, name: str, c: Watched, signals: dict[str, Any]) -> str | None:
        """The drift reference policy, after the round's alerts: held back while a drift rule holds or fires."""
        drift, live, active = self.signals.drift(name, c), c.registry.live(), self.alerts.active(name)
        drifting = any(r.name in active or holds(r, signals.get(r.signal)) for r in rules(c.settings)
                       if r.signal in DRIFT_SIGNALS)
        changed = _changed_retrieval(c.registry.find(drift.reference()["version"] or ""), live)
        return drift.apply_policy(live.id if live else None, duration_s(c.settings.monitor.reference_max_age),
                                  changed, drifting)

    def rule_states(self) -> list[dict[str, Any]]:
        """Every collection's rules with their state (inactive until a round has seen them)."""
        stored = {(s["name"], s["collection"]): s for s in self.alerts.states()}
        out = []
        for name, c in self.collections().items():
            for r in rules(c.settings):
                state = stored.get((r.name, name), {"name": r.name, "collection": name, "state": "inactive",
                                                    "since": None, "value": None})
                out.append({**state, "severity": r.severity, "condition": f"{r.signal} {r.op} {r.threshold:g}",
                            "for_s": r.for_s, "runbook": r.runbook})
        return out


def _changed_retrieval(reference, live) -> bool:
    """Whether `live` retrieves differently from the version the drift reference was set on: another model or
    chunking, not merely other documents. Unknown (the reference's record is gone) counts as changed."""
    if live is None or reference is None:
        return live is not reference
    return (reference.model_id, reference.params) != (live.model_id, live.params)

"""Alert state and delivery. A rule whose condition holds becomes pending, then firing once it has held for
`for_s`; it resolves when the condition is measured not to hold (a signal with no value, say a drift reference
still being collected, changes nothing). A rate over the monitor window holds only while its recent value holds too
(windows.business `recent`): the alert resolves soon after a fix, not once the window has emptied. Every fired and
resolved event is written to an outbox in the same transaction as the state change, then POSTed to
`monitor.webhook_url` (tenacity retries within a round; later rounds retry with backoff). An event undelivered for
`monitor.webhook_give_up_s` is kept as a dead letter (`ragship monitor alerts` lists it), never dropped."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sqlalchemy import select

from ragship.access import LOCAL, Principal, topics_for
from ragship.monitor.incidents import SEVERITY, Incidents
from ragship.monitor.querylog import QueryLog
from ragship.state.tables import ALERT_EVENTS, ALERT_STATE, upsert

EVENTS = ALERT_EVENTS.c


class Alerts:
    def __init__(self, log: QueryLog, site: str = ""):
        """`site`: the server's address (http://host:port), for the incident links events carry."""
        self.log, self.state, self.site = log, log.state, site.rstrip("/")
        self.incidents = Incidents(log.state)

    def evaluate(self, collection: str, rules, signals: dict[str, Any], context: dict[str, Any],
                 now: float | None = None, deliver: bool = True,
                 recent: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Move each rule's state on the current `signals` (and, for a window's rate, its `recent` value too: both
        must hold); the events (fired/resolved) this round, the most severe first (it opens and names the
        incident), queued for the webhook when `deliver` (delivery "none" otherwise)."""
        now = time.time() if now is None else now
        events = []
        for rule in sorted(rules, key=lambda r: -SEVERITY.get(r.severity, 0)):
            value = signals.get(rule.signal)
            if value is None:  # not measured: neither fired nor resolved
                continue
            short = (recent or {}).get(rule.signal)
            holding = holds(rule, value) and (short is None or holds(rule, short))
            event = self._step(rule, collection, holding, value, now)
            if event:
                shown = short if event == "resolved" and short is not None and holds(rule, value) else value
                events.append(self._emit(rule, collection, event, shown, context, now, deliver))
        return events

    def _step(self, rule, collection: str, holds: bool, value, now: float) -> str | None:
        row = self.state.rows(select(ALERT_STATE.c.state, ALERT_STATE.c.since).where(
            ALERT_STATE.c.name == rule.name, ALERT_STATE.c.collection == collection))
        state, since = row[0] if row else ("inactive", now)
        if holds and state in ("inactive", "resolved"):
            state, since = "pending", now
        if holds and state == "pending" and now - since >= rule.for_s:
            self._set(rule.name, collection, "firing", now, value)
            return "fired"
        if not holds and state in ("pending", "firing"):
            self._set(rule.name, collection, "resolved" if state == "firing" else "inactive", now, value)
            return "resolved" if state == "firing" else None
        self._set(rule.name, collection, state, since, value)
        return None

    def _set(self, name: str, collection: str, state: str, since: float, value) -> None:
        with self.state.ready() as c:
            upsert(c, ALERT_STATE, {"name": name, "collection": collection, "state": state, "since": since,
                                    "value": value}, ("name", "collection"))

    def _emit(self, rule, collection: str, event: str, value, context: dict[str, Any], now: float,
              deliver: bool) -> dict:
        detail = context.get("details", {}).get(rule.signal)  # what the value alone does not say (which key)
        payload = {"id": uuid.uuid4().hex, "event": event, "alert": rule.name, "collection": collection,
                   "severity": rule.severity, "signal": rule.signal, "value": value,
                   "condition": f"{rule.signal} {rule.op} {rule.threshold} for {rule.for_s:g} s",
                   "summary": f"{rule.summary}: {detail}" if detail and rule.summary else detail or rule.summary,
                   "runbook": rule.runbook, "at": now, **context}
        with self.state.ready() as c:  # the event and its incident in one transaction
            incident = self.incidents.on_alert(c, collection, payload)
            if incident:
                payload["incident"] = {"id": incident, "link": f"{self.site}/#incidents/{incident}"}
            c.execute(ALERT_EVENTS.insert().values(
                id=payload["id"], ts=now, name=rule.name, collection=collection, event=event,
                payload=json.dumps(payload), delivery="pending" if deliver else "none", attempts=0, next_try=now))
        return payload

    def deliver(self, url: str, timeout_s: float = 5.0, give_up_s: float = 86400.0,
                now: float | None = None) -> dict[str, int]:
        """POST the due events to `url`, oldest first; counts of delivered, failed and newly dead ones."""
        now = time.time() if now is None else now
        due = self.state.rows(select(EVENTS.id, EVENTS.ts, EVENTS.payload, EVENTS.attempts).where(
            EVENTS.delivery == "pending", EVENTS.next_try <= now).order_by(EVENTS.ts))
        done = {"delivered": 0, "failed": 0, "dead": 0}
        for event_id, ts, payload, attempts in due:
            try:
                _post(url, json.loads(payload), timeout_s)
                self.state.write(ALERT_EVENTS.update().where(EVENTS.id == event_id).values(
                    delivery="delivered", attempts=attempts + 1))
                done["delivered"] += 1
            except Exception as e:  # noqa: BLE001 - any failure to deliver is retried later, never raised
                dead = now - ts >= give_up_s
                self.state.write(ALERT_EVENTS.update().where(EVENTS.id == event_id).values(
                    delivery="dead" if dead else "pending", attempts=attempts + 1,
                    next_try=now + min(300.0, 2.0 ** attempts), last_error=str(e)[:500]))
                done["dead" if dead else "failed"] += 1
                break  # keep the order: later events wait for this one
        return done

    def active(self, collection: str) -> set[str]:
        """The rules pending or firing for `collection`."""
        a = ALERT_STATE.c
        return {r[0] for r in self.state.rows(select(a.name).where(a.collection == collection,
                                                                    a.state.in_(("pending", "firing"))))}

    def firing_since(self, collection: str, name: str) -> float | None:
        """Since when the rule `name` has fired for `collection`; None while it does not."""
        a = ALERT_STATE.c
        rows = self.state.rows(select(a.since).where(a.collection == collection, a.name == name,
                                                     a.state == "firing"))
        return rows[0][0] if rows else None

    def states(self) -> list[dict[str, Any]]:
        a = ALERT_STATE.c
        rows = self.state.rows(select(a.name, a.collection, a.state, a.since, a.value).order_by(a.name))
        return [dict(zip(("name", "collection", "state", "since", "value"), r)) for r in rows]

    def events_between(self, collection: str, start: float, end: float) -> list[dict[str, Any]]:
        """The events of `collection` from `start` to `end` (both included), oldest first, as they were sent."""
        rows = self.state.rows(select(EVENTS.payload).where(EVENTS.collection == collection, EVENTS.ts >= start,
                                                            EVENTS.ts <= end).order_by(EVENTS.ts))
        return [json.loads(payload) for (payload,) in rows]

    def events(self, limit: int = 100, viewer: Principal = LOCAL) -> list[dict[str, Any]]:
        """The newest events, the drift topics' example questions only where `viewer` may read them."""
        rows = self.state.rows(select(EVENTS.payload, EVENTS.delivery, EVENTS.attempts, EVENTS.last_error)
                             .order_by(EVENTS.ts.desc()).limit(limit))
        out = [{**json.loads(p), "delivery": d, "attempts": a, "last_error": e} for p, d, a, e in rows]
        for event in out:
            if (event.get("drift") or {}).get("topics"):
                event["drift"]["topics"] = topics_for(viewer, event["drift"]["topics"])
        return out


def delivery_text(event: dict[str, Any]) -> str:
    """An event's webhook delivery in words: "not delivered (no webhook configured)" rather than "none after 0
    attempt(s)"."""
    n, error = event["attempts"], f": {event['last_error']}" if event.get("last_error") else ""
    return {"none": "not delivered (no webhook configured)",
            "delivered": f"delivered to the webhook (attempt {n})",
            "pending": f"delivery pending ({n} attempt(s) so far{error})",
            "dead": f"not delivered: gave up after {n} attempt(s){error}"}.get(event["delivery"], event["delivery"])


def holds(rule, value) -> bool:
    """Whether a rule's condition holds for a measured value (None: not measured, does not hold)."""
    return value is not None and (value < rule.threshold if rule.op == "<" else value > rule.threshold)


def _post(url: str, payload: dict[str, Any], timeout_s: float) -> None:
    import httpx
    from tenacity import retry, stop_after_attempt, wait_exponential

    @retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
    def send() -> None:
        httpx.post(url, json=payload, timeout=timeout_s).raise_for_status()

    send()

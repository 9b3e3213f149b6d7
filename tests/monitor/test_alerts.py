"""Alerts: pending → firing after `for_s`, resolved when the condition stops; a falling positive-feedback rate
fires FeedbackLow at a webhook; a webhook that is down is retried until it takes the event (never lost), and an
event undeliverable past the give-up time is kept as a dead letter."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from conftest import DATA, free_port, make_engine
from sqlalchemy import text

from ragship.monitor.alerts import Alerts
from ragship.monitor.querylog import Observation, QueryLog
from ragship.monitor.schedule import Monitor
from ragship.settings import AlertRule
from ragship.state import State

RULE = AlertRule(name="AbstainRateHigh", signal="abstain_rate", op=">", threshold=0.5, for_s=60,
                 runbook="docs/runbooks/monitoring.md#abstainratehigh")


def test_an_alert_fires_only_after_its_condition_held_for_its_duration(tmp_path):
    alerts = Alerts(QueryLog(State(None, tmp_path)))
    assert alerts.evaluate("default", [RULE], {"abstain_rate": 0.7}, {}, now=1000) == []  # pending
    assert alerts.evaluate("default", [RULE], {"abstain_rate": 0.7}, {}, now=1030) == []
    fired = alerts.evaluate("default", [RULE], {"abstain_rate": 0.8}, {}, now=1061)
    assert [e["event"] for e in fired] == ["fired"] and fired[0]["value"] == 0.8
    assert alerts.evaluate("default", [RULE], {"abstain_rate": 0.8}, {}, now=1100) == []  # still firing
    assert [e["event"] for e in alerts.evaluate("default", [RULE], {"abstain_rate": 0.2}, {}, now=1200)] == ["resolved"]
    assert alerts.evaluate("default", [RULE], {"abstain_rate": 0.9}, {}, now=1300) == []  # pending again
    assert alerts.evaluate("default", [RULE], {"abstain_rate": 0.1}, {}, now=1310) == []  # cleared, never fired
    assert alerts.evaluate("default", [RULE], {"abstain_rate": None}, {}, now=1400) == []  # no data, no alert


class Receiver:
    """A local webhook receiver on a fixed port, started and stopped at will."""

    def __init__(self, port: int):
        self.port, self.received, self.server = port, [], None

    def start(self):
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def stream(log, n, positive_share):
    """n answered questions, a share of them rated up and the rest down, by ten users."""
    for i in range(n):
        rid = log.record(Observation(f"k{i % 10}", "default", "ask", 20.0, f"question {i}", "answered",
                                     confidence=0.8))
        log.feedback(rid, f"k{i % 10}", 1 if i < positive_share * n else -1, "")


def test_falling_feedback_fires_at_a_webhook_that_was_down(tmp_path, cache_dir):
    port = free_port()
    engine = make_engine(tmp_path / "home", cache_dir, monitor={"webhook_url": f"http://127.0.0.1:{port}/hook",
                                                                "webhook_timeout_s": 1})
    engine.ingest([DATA / "docs"])
    log = QueryLog(engine.state)
    monitor = Monitor(log, lambda: {"default": engine}, tmp_path / "monitor.lock")
    stream(log, 50, 0.8)
    assert monitor.tick()["events"] == []  # 80 % positive: fine

    # an hour later: the window holds only what follows
    log.state.write(text("UPDATE ragship_feedback SET ts = ts - 7200"))
    log.state.write(text("UPDATE ragship_requests SET ts = ts - 7200"))
    stream(log, 50, 0.4)
    first = monitor.tick()  # the receiver is down
    assert [(e["alert"], e["event"], e["value"]) for e in first["events"]] == [("FeedbackLow", "fired", 0.4)]
    assert first["delivery"] == {"delivered": 0, "failed": 1, "dead": 0}
    assert monitor.alerts.events()[0]["delivery"] == "pending"

    receiver = Receiver(port)
    receiver.start()
    try:
        again = monitor.tick(now=time.time() + 5)  # past its backoff
    finally:
        receiver.stop()
    assert again["delivery"] == {"delivered": 1, "failed": 0, "dead": 0}
    event = receiver.received[0]
    assert event["alert"] == "FeedbackLow" and event["event"] == "fired" and event["value"] == 0.4
    assert event["runbook"] == "/runbooks/monitoring.md#feedbacklow" and event["window"]["feedback"] == 50
    assert monitor.alerts.events()[0]["attempts"] == 2


def test_an_event_undelivered_past_the_give_up_time_stays_as_a_dead_letter(tmp_path):
    alerts = Alerts(QueryLog(State(None, tmp_path)))
    alerts.evaluate("default", [RULE.model_copy(update={"for_s": 0})], {"abstain_rate": 0.9}, {}, now=1000)
    url = f"http://127.0.0.1:{free_port()}/nobody"
    assert alerts.deliver(url, 0.5, give_up_s=3600, now=1001)["failed"] == 1
    assert alerts.deliver(url, 0.5, give_up_s=3600, now=5000)["dead"] == 1
    kept = alerts.events()[0]
    assert kept["delivery"] == "dead" and kept["attempts"] == 2 and "onnect" in kept["last_error"]


def test_without_a_webhook_events_are_kept_but_not_queued(tmp_path):
    alerts = Alerts(QueryLog(State(None, tmp_path)))
    alerts.evaluate("default", [RULE.model_copy(update={"for_s": 0})], {"abstain_rate": 0.9}, {}, now=1000,
                    deliver=False)
    assert alerts.events()[0]["delivery"] == "none"
    assert alerts.deliver("http://127.0.0.1:9/never", 0.5, now=2000) == {"delivered": 0, "failed": 0, "dead": 0}

"""StateUnreadable became VersionsUnreadable (ADR 0024); for one release the old names keep loading: a configured
rule on the old signal, the old signal in /metrics (rules exported before the rename watch it), events and alerts
recorded under the old names."""

from types import SimpleNamespace

from ragship.monitor import metrics
from ragship.monitor.events import Events
from ragship.monitor.querylog import QueryLog
from ragship.monitor.rules import causes, rules
from ragship.settings import AlertRule
from ragship.settings.service import MonitorSettings
from ragship.state import State


def test_a_rule_on_the_old_signal_watches_the_new_one():
    old = AlertRule(name="StateUnreadable", signal="state_unreadable", op=">", threshold=0.5, severity="critical",
                    runbook="docs/runbooks/monitoring.md#stateunreadable")
    [rule] = rules(SimpleNamespace(monitor=MonitorSettings(alerts=[old])))
    assert (rule.name, rule.signal) == ("StateUnreadable", "versions_unreadable")


def test_metrics_export_the_old_signal_too():
    metrics.record_signals("renamed", {"versions_unreadable": 1.0})
    text = metrics.exposition().decode()
    for signal in ("versions_unreadable", "state_unreadable"):
        assert f'ragship_signal{{collection="renamed",signal="{signal}"}} 1.0' in text


def test_alerts_and_events_recorded_under_the_old_names_read_as_the_new(tmp_path):
    assert causes("state_unreadable") == causes("versions_unreadable") == causes(None, "StateUnreadable")
    events = Events(QueryLog(State(None, tmp_path)))
    events.record("default", "state unreadable", "LIVE cannot be read", "monitor", now=100)
    assert events.last("default", ("versions unreadable", "versions readable"))["kind"] == "versions unreadable"
    assert [e["kind"] for e in events.between("default", 0, 200)] == ["versions unreadable"]

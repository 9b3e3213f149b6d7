"""The postmortem draft says where its figures start as it chose that start: from the suspected trigger, or, with
none recorded, from a window before the first alert, or before the opening of an incident no alert opened."""

import pytest

from ragship.index import VersionRegistry
from ragship.monitor.alerts import Alerts
from ragship.monitor.events import Events
from ragship.monitor.incidents import Incidents
from ragship.monitor.postmortem import draft, markdown
from ragship.monitor.querylog import QueryLog
from ragship.settings import AlertRule
from ragship.state import State

LLM_DOWN = AlertRule(name="LLMFallback", signal="llm_fallback_rate", op=">", threshold=0.2, for_s=0,
                     severity="critical", runbook="docs/runbooks/monitoring.md#llmfallback")


def _section(text: str, heading: str) -> str:
    return text.split(f"## {heading}")[1].split("\n## ")[0]


@pytest.mark.parametrize("by_alert", [True, False], ids=["opened-by-an-alert", "opened-by-hand"])
@pytest.mark.parametrize("with_trigger", [True, False], ids=["a-recorded-fault", "nothing-recorded"])
def test_the_impact_names_the_start_it_counted_from_with_and_without_a_trigger_or_an_alert(tmp_path, by_alert,
                                                                                         with_trigger):
    """Issue 49: an incident opened by hand, with no change recorded before it, read "N requests from … (the
    trigger to the resolution, …)" and "Trigger candidates (changes and faults before the first alert …)": neither
    a trigger nor an alert existed."""
    state = State(None, tmp_path)
    log = QueryLog(state)
    if with_trigger:
        Events(log).record("default", "llm failed", "openai: connection refused", now=1100)
    incidents = Incidents(state)
    if by_alert:
        fired = Alerts(log).evaluate("default", [LLM_DOWN], {"llm_fallback_rate": 0.9}, {}, now=1200,
                                     recent={"llm_fallback_rate": 0.9}, deliver=False)
        incident_id = fired[0]["incident"]["id"]
    else:
        incident_id = incidents.open("default", "answers read oddly", "key:dora", now=1200).id
    incidents.resolve(incident_id, "key:lead", now=1300)
    d = draft(incidents.get(incident_id), log, VersionRegistry(tmp_path / "index"), window_s=600, now=1400)
    impact, candidates = _section(markdown(d), "Impact"), _section(markdown(d), "Trigger candidates")
    state.close()

    if with_trigger:
        assert (d["impact"]["from_the"], d["impact"]["from"]) == ("trigger", 1100)
        assert "(200 s: from the suspected trigger, to the resolution)" in impact, impact
    elif by_alert:
        assert (d["impact"]["from_the"], d["impact"]["from"]) == ("first alert", 600)
        assert "(700 s: from 600 s before the first alert, as no change is recorded as its cause, to the " \
               "resolution)" in impact, impact
    else:
        assert (d["impact"]["from_the"], d["impact"]["from"]) == ("opening", 600)
        assert "(700 s: from 600 s before it was opened by hand, as no alert fired and no change is recorded as " \
               "its cause, to the resolution)" in impact, impact
    if not with_trigger:
        assert "trigger" not in impact
    if by_alert:
        assert candidates.startswith(" (changes and faults before the first alert:")
    else:
        assert "first alert" not in impact
        assert candidates.startswith(" (changes and faults before the opening (no alert fired):")
        assert "preceded the first alert" not in candidates

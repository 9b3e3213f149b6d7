"""Monitoring: Prometheus metrics (metrics.py); the query log with feedback (querylog.py), the request it records
(observation.py) and what it keeps of a query's text (privacy.py); business metrics over windows (windows.py), drift
(drift.py), the alert rules and their delivery (rules.py, alerts.py), freshness (freshness.py) and the
Prometheus/Grafana export (export.py). The monitor: a collection's signals (signals.py), the alert round over every
collection under the home's monitor lock (round.py), and the scheduled tasks that run it, re-sync the sources and
check the improvement triggers (schedule.py: Monitor). Incidents opened by alerts or by hand (incidents.py), their
timeline (timeline.py) from what the other tables record plus the events log (events.py) and server starts
(starts.py), and the postmortem draft (postmortem.py). Reads what the stages report; imports nothing above them."""

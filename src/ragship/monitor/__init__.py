"""Monitoring: Prometheus metrics (metrics.py), the query log with feedback (querylog.py) and what it keeps of a
query's text (privacy.py), business metrics over windows (windows.py), drift (drift.py), alert rules and their
delivery (rules.py, alerts.py), freshness (freshness.py), the Prometheus/Grafana export (export.py) and the
monitor loop (watcher.py). Incidents opened by alerts or by hand (incidents.py), their timeline (timeline.py) from
what the other tables record plus the events log (events.py) and server starts (starts.py), and the postmortem
draft (postmortem.py). Reads what the stages report; imports nothing above them."""

"""Monitoring: Prometheus metrics (metrics.py), the query log with feedback (querylog.py), business metrics over
windows (windows.py), drift (drift.py), alert rules and their delivery (rules.py, alerts.py), freshness
(freshness.py), the Prometheus/Grafana export (export.py) and the monitor loop (watcher.py). Reads what the
stages report; imports nothing above them."""

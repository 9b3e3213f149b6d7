"""Monitoring: Prometheus metrics (metrics.py) and the query log with feedback (querylog.py). Reads what the
stages report; imports nothing above them."""

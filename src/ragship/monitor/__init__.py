"""Monitoring: Prometheus metrics now; query log, drift and alerts later. Reads what the stages report."""

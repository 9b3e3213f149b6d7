"""Evaluation on BEIR-layout datasets: retrieval metrics (pytrec_eval), latency, Markdown reports."""

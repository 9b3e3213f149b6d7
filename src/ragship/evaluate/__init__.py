"""Evaluation on BEIR-layout datasets: retrieval metrics (pytrec_eval), answer metrics against gold answers
(answers.py), latency, fusion and BM25 tuning (tune.py), JSON and Markdown reports."""

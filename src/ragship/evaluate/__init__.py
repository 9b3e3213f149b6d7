"""Evaluation on BEIR-layout datasets (beir.py): retrieval metrics from pytrec_eval (metrics.py), `ragship
eval` with latency and JSON and Markdown reports (runner.py), answer metrics against gold answers (answers.py),
questions asked in conversations (conversations.py), questions labeled answerable or not (labeled_questions.py),
and fusion and BM25 tuning (tune.py)."""

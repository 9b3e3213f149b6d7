"""Domain adaptation: fine-tune the embedding model on the user's own data (labeled queries, or the corpus
itself), validate it on held-out queries, save it in the home, and build a new index version with it.

`ragship adapt` (runner.py) mines training pairs (pairs.py) and fine-tunes the bi-encoder (biencoder.py); the
cross-encoder reranker (crossencoder.py) and the QA model (qa.py, with Natural Questions-style pairs from nq.py)
are trained the same way. All three share one training loop (training.py)."""

"""Retrieval: dense, BM25 and hybrid (weighted reciprocal rank fusion) over a live index version.

Search (search.py) with rank fusion (fusion.py), permission and metadata filters (filters.py) and the
cross-encoder reranker (rerank.py); what a question asked in a conversation searches for (conversation.py); the
version requests read and its reopening when the live pointer moves (serving.py)."""

from ragship.retrieve.search import Searcher

__all__ = ["Searcher"]

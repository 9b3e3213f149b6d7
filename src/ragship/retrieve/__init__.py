"""Retrieval: dense, BM25 and hybrid (weighted reciprocal rank fusion) over a live index version."""

from ragship.retrieve.search import Searcher

__all__ = ["Searcher"]

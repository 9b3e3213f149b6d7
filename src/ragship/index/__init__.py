"""The index: chunk rows and vectors in LanceDB, and the immutable versions built from them. Knows rows,
vectors and versions, not models."""

from ragship.index.store import ChunkStore, IndexView
from ragship.index.versions import IndexVersion, VersionRegistry

__all__ = ["ChunkStore", "IndexView", "IndexVersion", "VersionRegistry"]

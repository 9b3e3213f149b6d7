"""The index: chunk rows and vectors in LanceDB, and the immutable versions built from them. Knows rows,
vectors and versions, not models.

The table and its writers (store.py); a checked-out, read-only version (view.py) and what it keeps in memory
(memory.py); version records and the live pointer (versions.py); checksums of each version's files
(integrity.py); deleted documents hidden from every version (tombstones.py)."""

from ragship.index.store import ChunkStore, IndexView
from ragship.index.versions import IndexVersion, VersionRegistry

__all__ = ["ChunkStore", "IndexView", "IndexVersion", "VersionRegistry"]

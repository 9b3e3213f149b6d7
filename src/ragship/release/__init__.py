"""Releases: index versions as candidates, an evaluation gate against the live version (gate.py, on per-query
figures of both measured side by side in measure.py), promotion and rollback by moving the live pointer
(manager.py). Reads what ingest and evaluation record."""

from ragship.release.gate import GateReport
from ragship.release.manager import Releases

__all__ = ["GateReport", "Releases"]

"""Releases: index versions as candidates, an evaluation gate against the live version, promotion and
rollback by moving the live pointer. Reads what ingest and evaluation record."""

from ragship.release.gate import GateReport
from ragship.release.manager import Releases

__all__ = ["GateReport", "Releases"]

"""The old home of the Service and the answer stream, kept for the imports of tests/test_faults.py and
tests/server/test_uploads.py until they name server/deps.py and server/logged.py: the routes are by resource now
(health, keys, query, documents, conversations, chat, operations, learning; app.py includes them)."""

from ragship.server.deps import Service
from ragship.server.logged import answer_events

__all__ = ["Service", "answer_events"]

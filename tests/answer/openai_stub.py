"""The OpenAI-compatible stub lives in ragship.testing.openai_stub (scripts use it too); tests import it from here."""

from ragship.testing.openai_stub import CANARY, StubServer, make_app

__all__ = ["CANARY", "StubServer", "make_app"]

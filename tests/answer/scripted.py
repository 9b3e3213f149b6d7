"""A scripted generator: the Generator protocol's test double, replying with fixed text (markers included)."""

from __future__ import annotations

from typing import Iterator

from ragship.text import quotable_spans
from ragship.types import Hit


class ScriptedGenerator:
    name = "scripted"

    def __init__(self, reply: str = "{first} [1]"):
        self.reply = reply  # {first}: the first quotable sentence of the first hit

    def draft(self, question: str, hits: list[Hit]) -> str:
        spans = list(quotable_spans(hits[0].text)) if hits else []
        if not spans:
            return "NOT FOUND"
        return self.reply.format(first=hits[0].text[spans[0][0]:spans[0][1]])

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str]:
        text = self.draft(question, hits)
        for i in range(0, len(text), 7):
            yield text[i:i + 7]

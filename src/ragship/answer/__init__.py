"""Answers: cited text drawn from retrieved chunks, verified against them, with a calibrated confidence and a
fallback policy below its threshold."""

from ragship.answer.answerer import Answerer
from ragship.answer.base import Answer, Citation, Generator
from ragship.answer.extractive import ExtractiveGenerator

__all__ = ["Answer", "Answerer", "Citation", "Generator", "ExtractiveGenerator"]

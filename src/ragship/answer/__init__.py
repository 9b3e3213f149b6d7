"""Answers: cited text drawn from retrieved chunks, with a confidence and abstention below a threshold."""

from ragship.answer.base import Answer, Citation, Generator
from ragship.answer.extractive import ExtractiveGenerator

__all__ = ["Answer", "Citation", "Generator", "ExtractiveGenerator"]

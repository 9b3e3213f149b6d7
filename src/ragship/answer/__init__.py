"""Answers: cited text drawn from retrieved chunks, verified against them, with a calibrated confidence and a
fallback policy below its threshold.

The steps in order (answerer.py); the Generator protocol and answer types (base.py); generators: extractive
(extractive.py) and OpenAI-compatible (openai.py, with its prompt in prompt.py); untrusted-text handling
(safety.py); per-sentence verification (verify.py) on one support measure (support.py); the confidence
(calibrate.py); the QA model (qa.py); a question back instead of an abstention (clarify.py)."""

from ragship.answer.answerer import Answerer
from ragship.answer.base import Answer, Citation, Generator
from ragship.answer.extractive import ExtractiveGenerator

__all__ = ["Answer", "Answerer", "Citation", "Generator", "ExtractiveGenerator"]

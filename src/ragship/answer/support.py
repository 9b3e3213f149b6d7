"""How well a sentence supports a text: a blend of embedding similarity and shared content words. One definition
with two weightings, because the two questions differ:

- a quoted sentence answering a *question* (extractive answers, confidence): 0.6 × cosine + 0.4 × share of the
  question's content words in the sentence. The weight was chosen with the confidence coefficients on
  clapnq-dev's tuning half (ADR 0004); questions are short and paraphrased, so similarity carries more.
- a generated *claim* supported by a cited source (verification): 0.5 × best sentence cosine + 0.5 × share of
  the claim's content words in the source; a claim should restate the source's facts, so words weigh equally
  (ADR 0008; the bar `answer.min_support` = 0.5 was set with it).
"""

from __future__ import annotations

QUESTION_SEMANTIC_WEIGHT = 0.6
CLAIM_SEMANTIC_WEIGHT = 0.5


def support(semantic: float, lexical: float, semantic_weight: float) -> float:
    return semantic_weight * semantic + (1 - semantic_weight) * lexical

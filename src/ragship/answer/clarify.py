"""A question back instead of an abstention, when the question could mean several things the passages tell apart:
it refers to something it does not name ("this flag", "the actor", "it"), the conversation does not name it either
(no earlier turn, or the question changes the subject), and the closest passages come from several documents (for
"the actor", documents that each speak of an actor). The
question back names those documents' readings (title, heading, or the words their text opens with) and cites them.
Measured on MTRAG-UN's underspecified questions (ADR 0023)."""

from __future__ import annotations

import re

import numpy as np

from ragship.text import content_terms, sentence_spans
from ragship.types import Hit

READINGS = 3  # documents named at most
# below this cosine to the user turn before it, a question changes the subject: the conversation does not say
# what "this" is (MTRAG-UN, ADR 0023)
SUBJECT_CHANGE = 0.2
LABEL_WORDS = 8
_DEMONSTRATIVE = re.compile(r"\b(?:this|that|these|those)\s+(?!(?:is|was|are|were|will|would|can|could|does|do|did|has|"
                            r"have|means?|one|way|time|case)\b)([a-z][\w'’-]*)", re.I)
_DEFINITE = re.compile(r"\bthe\s+([a-z][\w'’-]*)", re.I)
_PRONOUN = re.compile(r"\b(?:it|its|they|them|their|he|his|she|her)\b", re.I)
_LABEL_END = re.compile(r",|;|:|\s\(|\s(?:is|was|are|were|has|had|refers|means)\s")


def unnamed_words(question: str, earlier: str, patterns: tuple[re.Pattern, ...] | None = None) -> set[str]:
    """The words a demonstrative or "the" points at in the question that the earlier turns do not hold."""
    known = content_terms(earlier)
    return {w for pattern in (patterns or (_DEMONSTRATIVE, _DEFINITE)) for m in pattern.finditer(question)
            for w in content_terms(m.group(1)) if w not in known}


def unnamed_reference(question: str, earlier: str) -> bool:
    """Whether the question points at something it does not name: a demonstrative or "the" before a word the
    earlier turns do not hold, or a pronoun with no earlier turn."""
    return bool(unnamed_words(question, earlier)) or (not earlier.strip() and bool(_PRONOUN.search(question)))


def label(hit: Hit) -> str:
    """A document's reading: its title, else its heading, else the words its text opens with (up to a verb or
    a comma, at most LABEL_WORDS words)."""
    if hit.title.strip():
        return hit.title.strip()
    if hit.heading_path:
        return hit.heading_path[-1].strip()
    first = next(iter(sentence_spans(hit.text)), (0, len(hit.text)))
    sentence = " ".join(hit.text[first[0]:first[1]].split())
    words = _LABEL_END.split(sentence, maxsplit=1)[0].split()
    return " ".join(words[:LABEL_WORDS]).rstrip(".?!") + ("…" if len(words) > LABEL_WORDS else "")


def readings(hits: list[Hit]) -> list[tuple[Hit, str]]:
    """The first chunk of each of the closest documents, with its label; documents whose labels are alike once."""
    found: dict[str, tuple[Hit, str]] = {}
    seen: set[str] = set()
    for hit in hits:
        name = label(hit)
        if hit.doc_id in found or not name or name.lower() in seen:
            continue
        found[hit.doc_id] = (hit, name)
        seen.add(name.lower())
        if len(found) == READINGS:
            break
    return list(found.values())


def question_back(names: list[str]) -> str:
    listed = ", ".join(names[:-1]) + f" or {names[-1]}"
    return f"Which do you mean: {listed}? The documents speak of each."


def clarification(question: str, earlier: list[str], hits: list[Hit], embedder) -> list[tuple[Hit, str]] | None:
    """The readings to ask about, or None when the question should be answered or abstained on as it is.
    `earlier`: the user turns before the question, the newest first."""
    if not unnamed_reference(question, " ".join(earlier)):
        return None
    if earlier:
        q, before = embedder.embed_query(question), embedder.embed_query(earlier[0])
        if float(np.dot(q, before) / ((np.linalg.norm(q) * np.linalg.norm(before)) or 1.0)) >= SUBJECT_CHANGE:
            return None
    found = readings(hits)
    said = " ".join(earlier)
    if not unnamed_words(question, said, (_DEMONSTRATIVE,)):
        # "the X" is common in questions that mean one thing: a reading counts only when its document speaks of X
        # (asked alone, MTRAG-UN's unanswerable questions were asked back 54 % of the time without this, 27 % with)
        words = unnamed_words(question, said)
        found = [(h, name) for h, name in found if not words or words & content_terms(f"{h.text} {name}")]
    return found if len(found) >= 2 else None

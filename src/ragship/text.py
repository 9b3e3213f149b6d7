"""Plain-text span helpers shared by chunking and answering: paragraphs, sentences, terms."""

from __future__ import annotations

import re
from typing import Iterator

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! ? (optionally followed by quotes/brackets) before whitespace and an upper-case letter,
# digit or opening quote/bracket; or at a line break before a list marker or heading.
_SENTENCE_END = re.compile(r"""(?<=[.!?])["')\]]*\s+(?=["'(\[]?[A-Z0-9])|\n(?=\s*(?:[-*+#>|]|\d+[.)])\s)""")
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "vs.", "Fig.", "fig.", "Dr.", "Mr.", "Mrs.", "Ms.", "No.", "approx.")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_LIST_OR_TABLE = re.compile(r"^(?:[-*+>|#]|\d+[.)])(?:\s|$)|^(?:```|~~~)")  # and a code fence
_INNER_STOP = re.compile(r"[.!?;]\s+[A-Z0-9]")  # a sentence ends inside and another begins: not a title


def paragraph_spans(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Non-blank paragraphs of text[start:end] as absolute (start, end) spans, trimmed of whitespace."""
    end = len(text) if end is None else end
    pos = start
    for m in _PARAGRAPH_BREAK.finditer(text, start, end):
        yield from _trimmed(text, pos, m.start())
        pos = m.end()
    yield from _trimmed(text, pos, end)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Sentences of text[start:end] as absolute spans; a rule-based splitter that keeps common abbreviations."""
    end = len(text) if end is None else end
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        if text[max(start, m.start() - 8):m.start()].endswith(_ABBREVIATIONS):
            continue
        yield from _trimmed(text, pos, m.start())
        pos = m.end()
    yield from _trimmed(text, pos, end)


def quotable_spans(text: str) -> Iterator[tuple[int, int]]:
    """Sentences worth quoting in an answer: prose, list items and table rows; not code blocks or headings (a
    Markdown `#` line, or a heading line of any format: `heading_line`)."""
    for _, start, end in quotable_in_context(text):
        yield start, end


def quotable_in_context(text: str) -> Iterator[tuple[int, int, int]]:
    """(context start, start, end) of each quotable sentence: a sentence right under a heading line is read with
    that line (the title says what it is about) but quoted without it, also across the blank line Markdown puts
    after a heading ("## Per diem", then "The daily allowance ... is 45 EUR": issue 49's team was asked back)."""
    in_fence, heading = False, None
    for p_start, p_end in paragraph_spans(text):
        lines, context, heading = text[p_start:p_end].split("\n", 2), heading, None
        if not in_fence and heading_line(lines[0], lines[1] if len(lines) > 1 else None):
            context, p_start = p_start, p_start + len(lines[0]) + 1  # a title names what follows; no quote
            if len(lines) == 1:  # alone in its paragraph: it names the next one
                heading = context
                continue
        for s_start, s_end in sentence_spans(text, p_start, p_end):
            sentence = text[s_start:s_end]
            fences = sum(1 for line in sentence.splitlines() if line.lstrip().startswith(("```", "~~~")))
            if fences or in_fence:
                in_fence ^= fences % 2 == 1
                continue
            if not sentence.startswith("#") and len(_WORD.findall(sentence)) >= 3:
                yield s_start if context is None else context, s_start, s_end
            context = None


def heading_line(line: str, following: str | None = None) -> bool:
    """Whether a paragraph's first line is a title or heading rather than a sentence: a title on line 1 of a text
    file, a heading of a format that marks none. At most 12 words, no sentence or clause punctuation (a title may
    end in "!" or a bracket: "Chop Suey! (song)"), not a list
    item or table row, and alone in its paragraph or much shorter than the line after it (prose wrapped at a
    width is not: its lines are about as long as each other)."""
    stripped = line.strip()
    if (not stripped or _LIST_OR_TABLE.match(stripped) or stripped[-1] in ".?:;,\"”" or
            _INNER_STOP.search(stripped) or not 1 <= len(_WORD.findall(stripped)) <= 12):
        return False
    return following is None or len(stripped) < 0.6 * len(following.strip())


def title_line(line: str, following: str | None = None) -> bool:
    """Whether the first line of a plain-text file is its title: as `heading_line`, but it may hold what titles hold
    and a sentence does not end with: initials and abbreviations ("Ida B. Wells"), a question or exclamation ("O
    Brother, Where Art Thou?", "Yahoo! Answers"), an ellipsis; up to 16 words (heading_line took 578 of CLAP NQ's
    593 titles, this all)."""
    stripped = line.strip()
    ends_a_sentence = stripped.endswith((".", ",", ";", ":", '"', "”")) and not stripped.endswith(("...", "…"))
    if (not stripped or _LIST_OR_TABLE.match(stripped) or ends_a_sentence or
            not 1 <= len(_WORD.findall(stripped)) <= 16):
        return False
    return following is None or len(stripped) < 0.6 * len(following.strip())


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    segment = text[start:end]
    stripped = segment.strip()
    if stripped:
        lead = len(segment) - len(segment.lstrip())
        yield start + lead, start + lead + len(stripped)


STOPWORDS = frozenset(
    "a an and are as at be been being but by can could did do does for from had has have how i if in into is it its "
    "may might of on or our should so than that the their them then there these they this those to was were what "
    "when where which who whom why will with would you your not no".split()
)


def content_terms(text: str) -> set[str]:
    """Lower-cased words of text without stopwords: the terms whose overlap signals lexical support."""
    return {w for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in STOPWORDS}

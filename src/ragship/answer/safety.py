"""Retrieved text is untrusted data. This module finds what in it tries to act as instructions, hides what a
reader cannot see, and filters what leaves in an answer (links and images to hosts outside an allow-list).

Three layers, used by every generator:
- `visible(text)`: drops invisible characters (zero-width, bidi controls, Unicode tag characters used for
  "ASCII smuggling"), so hidden text can neither reach a model nor hide an instruction from the checks below.
- `is_instruction(sentence)`: instruction-like sentences aimed at an AI (override, role play, "output the word X",
  chat-template tokens). They are never quoted, never shown to a model, and never count as support.
- `filter_output(answer, allowed_hosts)`: removes markdown images and links, and bare URLs, whose host is not
  allowed; what was removed is reported.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")

# who an injection addresses; narrow on purpose, so that prose about "a model" or "the system" is not caught
_AI = r"(?:ai|a\.i\.|ai assistant|ai model|assistant|chat ?bot|llm|large language model|language model|gpt|" \
      r"chatgpt|claude|copilot|ai agent)s?"
_AI_STRICT = r"(?:ai assistant|ai model|assistant|chat ?bot|llm|language model|chatgpt|copilot|ai agent)s?"
_INSTRUCTION_PATTERNS = [
    # overriding what came before
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,60}\b(?:instruction|prompt|rule|guideline|"
    r"direction|message|above|previous|prior|earlier)s?\b",
    r"\b(?:new|updated|real|secret|hidden)\s+(?:instruction|prompt|directive)s?\b",
    # addressing the model
    rf"\b(?:attention|note|message|dear|hey|hello|important)\b[^.!?\n]{{0,20}}\b{_AI}\b",
    rf"\b(?:if|when|while)\s+(?:you\s+are\s+)?(?:an?\s+)?{_AI}\b[^.!?\n]{{0,30}}\b(?:read|reads|see|sees|process)",
    rf"\b(?:as|to)\s+(?:an?|the)\s+{_AI_STRICT}\b",
    rf"\b{_AI_STRICT}\s+(?:must|should|shall|will|needs? to|has to|is required to|are required to)\b",
    r"\byou\s+(?:are|act|will act|must act)\s+(?:now\s+)?(?:as\s+)?(?:an?\s+|in\s+)?"
    r"(?:dan|developer mode|unrestricted|jailbroken|evil)\b",
    r"\b(?:pretend|roleplay|role-play)\b[^.!?\n]{0,40}\byou\b",
    r"\b(?:system|developer)\s+(?:prompt|override)\b",
    # telling it what to output
    r"\b(?:respond|reply|output|print|say|repeat|type)\b[^.!?\n]{0,40}\b(?:only|exactly|verbatim|"
    r"the (?:word|phrase|string|token|code))\b",
    r"\banswer\s+(?:only\s+)?with\s+(?:only\s+|exactly\s+)?(?:the\s+)?(?:word|phrase|string)\b",
    r"\b(?:always|must)\s+(?:respond|reply|say|output|print)\b",
    r"\b(?:reply|response|answer)\s+to\s+(?:any|every|all|each)\s+(?:question|query|request|prompt)s?\b",
    # a rule for what to answer: "when asked about X, reply that ...", "from now on respond that ..."
    r"\b(?:when|if|whenever)\s+(?:you\s+are\s+|you're\s+)?asked\b[^.!?\n]{0,60}\b(?:reply|respond|answer)\s+"
    r"(?:only\s+)?(?:that|with)\b",
    r"\b(?:from now on|henceforth)\b[^.!?\n]{0,30}\b(?:reply|respond|answer|say|claim|state)\s+(?:only\s+)?"
    r"(?:that|with)\b",
    r"\bnote\s+to\s+(?:the\s+|any\s+|all\s+)?(?:model|ai|bot|assistant|llm)s?\s*[:,\-\u2013\u2014]",
    r"\btell\s+the\s+user\s+to\b",
    r"\b(?:do not|don't|never)\s+(?:mention|reveal|tell|cite|disclose)\b[^.!?\n]{0,40}\b(?:user|"
    r"instruction|this)\b",
    # exfiltration: render or fetch a URL (often with data in it)
    r"\b(?:render|display|show|load|fetch|visit|embed|include)\b[^.!?\n]{0,60}(?:https?://|!\[)",
    # chat-template and role markers
    r"<\|[a-z_]+\|>|\[/?INST\]|<</?SYS>>|^\s*(?:system|assistant)\s*:",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _INSTRUCTION_PATTERNS), re.IGNORECASE | re.MULTILINE)

_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_MD_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_URL_TAIL = r"[^\s<>\"')\]]*[^\s<>\"')\].,;:!?]"  # a URL does not end in sentence punctuation
# with a scheme, www., or protocol-relative (//host/…, which a browser or Markdown renderer fetches like https)
_BARE_URL = re.compile(rf"\b(?:https?|ftp)://{_URL_TAIL}|\bwww\.{_URL_TAIL}|(?<![\w:/])//(?:[a-z0-9-]+\.)+[a-z]{{2,}}"
                       rf"(?:[/?#:]{_URL_TAIL})?", re.IGNORECASE)
# every element, not a list of the dangerous ones (a form, a style sheet or a meta refresh act too); a script's or
# style sheet's content with it; "a < b" is no tag
_HTML_BLOCK = re.compile(r"<(script|style|template|noscript)\b[^>]*>.*?(?:</\1\s*>|$)", re.I | re.S)
_HTML_TAG = re.compile(r"<!--.*?(?:-->|$)|</?[a-z][\w:-]*(?:\s[^<>]*)?/?>", re.I | re.S)


def visible(text: str) -> str:
    """Text without invisible characters (what a reader would see, and all a model may be shown)."""
    return _INVISIBLE.sub("", text)


def is_instruction(sentence: str) -> bool:
    """True for a sentence that tries to instruct an AI rather than inform a reader."""
    return bool(_INSTRUCTION.search(visible(sentence)))


def host_allowed(url: str, allowed_hosts: tuple[str, ...]) -> bool:
    """A URL may appear in an answer only if its host is an allowed host or a subdomain of one."""
    url = url if "://" in url else f"http://{url}"
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    return bool(host) and any(host == h or host.endswith("." + h) for h in allowed_hosts)


def filter_output(text: str, allowed_hosts: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """The answer without invisible characters, active HTML, and links or images outside the allow-list.
    Returns the clean text and what was removed."""
    removed: list[str] = []

    def image(m: re.Match) -> str:
        if host_allowed(m.group(2), allowed_hosts):
            return m.group(0)
        removed.append(f"image {m.group(2)}")
        return m.group(1)

    def link(m: re.Match) -> str:
        if host_allowed(m.group(2), allowed_hosts):
            return m.group(0)
        removed.append(f"link {m.group(2)}")
        return m.group(1)

    def bare(m: re.Match) -> str:
        if host_allowed(m.group(0).lstrip("/"), allowed_hosts):
            return m.group(0)
        removed.append(f"url {m.group(0)}")
        return "[link removed]"

    def tag(m: re.Match) -> str:
        removed.append(f"html {m.group(0)[:60]}")
        return ""

    text = visible(text)
    text = _MD_IMAGE.sub(image, text)
    text = _MD_LINK.sub(link, text)
    text = _HTML_BLOCK.sub(tag, text)
    text = _HTML_TAG.sub(tag, text)
    text = _BARE_URL.sub(bare, text)
    return text, removed

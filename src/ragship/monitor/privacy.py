"""What the query log keeps of a query's text (`monitor.query_text`): the text, its hash, or the text with
personal data replaced by a placeholder. The redaction is a pattern pass for the identifiers that leak most
often in questions (credentials, emails, IBANs, card numbers, IP addresses, phone numbers); names and addresses in
free text are not caught, so "hash" is the policy for logs that must hold no personal data at all."""

from __future__ import annotations

import hashlib
import re

PATTERNS = [  # the order matters: an IBAN or card number is also a run of digits a phone pattern would take
    # credentials pasted into a question: "Bearer ...", JWTs, and any 32+ character run of letters and digits
    # (API keys and tokens: ragship's rsk_, GitHub's ghp_, OpenAI's sk-, AWS secret keys, hex digests)
    ("SECRET", re.compile(r"(?i:\bbearer\s+\S+)|\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"
                          r"|\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{32,}")),
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")),
    ("CARD", re.compile(r"\b\d(?:[ -]?\d){12,18}\b")),
    ("IP", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")),
    ("PHONE", re.compile(r"(?<![\w.])\+?\d[\d ()/.-]{6,}\d\b")),
]


def redact(text: str) -> str:
    for label, pattern in PATTERNS:
        text = pattern.sub(f"[{label}]", text)
    return text


def kept_text(text: str, policy: str) -> str:
    """The query text as the log may keep it under `policy` ("keep", "hash", "redact")."""
    if policy == "keep":
        return text
    if policy == "hash":
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return redact(text)

"""E-mail: one message (.eml) or a mailbox (.mbox), read with the standard library's email parser. A message's
subject, sender and date head it (a heading per message in a mailbox); its text is the plain-text body, or the
HTML body's visible text; attachments are listed by name, not read."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import PurePath

from ragship.errors import ParseError
from ragship.ingest.formats.common import Parsed, Sections
from ragship.ingest.formats.html import parse_html

MAX_MESSAGES = 100_000
_FROM_LINE = re.compile(rb"^From .*\r?\n", re.MULTILINE)  # mbox: each message starts with a "From " line


def parse_eml(data: bytes, path: PurePath) -> Parsed:
    message = _message(data, path)
    out = Sections()
    _add(out, message, path, level=0)
    return out.parsed(_header(message, "subject") or path.stem, **_people(message))


def parse_mbox(data: bytes, path: PurePath) -> Parsed:
    if not data.startswith(b"From "):
        raise ParseError(f"{path}: not an mbox (it must start with a \"From \" line); check the file type")
    raw = [m for m in _FROM_LINE.split(data) if m.strip()]
    if len(raw) > MAX_MESSAGES:
        raise ParseError(f"{path}: {len(raw)} messages; the limit is {MAX_MESSAGES} (split the mailbox)")
    out = Sections()
    for data_ in raw:
        _add(out, _message(re.sub(rb"^>(>*From )", rb"\1", data_, flags=re.MULTILINE), path), path, level=1)
    return out.parsed(path.stem, messages=len(raw))


def _message(data: bytes, path: PurePath) -> EmailMessage:
    try:
        return BytesParser(policy=policy.default).parsebytes(data)
    except (ValueError, TypeError, LookupError) as e:
        raise ParseError(f"{path}: unreadable e-mail ({type(e).__name__}: {e})") from None


def _add(out: Sections, message: EmailMessage, path: PurePath, level: int) -> None:
    subject = _header(message, "subject") or "(no subject)"
    if level:
        out.heading(level, subject, show=False)
    header = [f"{name}: {value}" for name in ("From", "To", "Cc", "Date")
              if (value := _header(message, name.lower()))]
    out.paragraph("\n".join([f"Subject: {subject}", *header]))
    out.paragraph(_body(message, path))
    names = [name for part in message.iter_attachments() if (name := part.get_filename())]
    if names:
        out.paragraph("Attachments: " + ", ".join(names))


def _body(message: EmailMessage, path: PurePath) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset or a broken encoding
        payload = part.get_payload(decode=True)  # the body's bytes (None only for a multipart, which it is not)
        content = (payload if isinstance(payload, bytes) else b"").decode("utf-8", "replace")
    if part.get_content_subtype() == "html":
        return parse_html(content.encode("utf-8"), path.with_suffix(".html")).text
    return content


def _header(message: EmailMessage, name: str) -> str:
    try:
        return " ".join(str(message.get(name, "") or "").split())
    except (ValueError, TypeError, LookupError):
        return ""


def _people(message: EmailMessage) -> dict:
    return {k: v for k in ("from", "date") if (v := _header(message, k))}

"""Who did something, named one way wherever ragship records it (release promotions and rollbacks, incident
entries, events, timelines): an API key by its name and id, a person at the command line by their login, and
ragship itself by what acted (issue 49, finding 8)."""

from __future__ import annotations

import getpass
import re
from typing import Mapping

MONITOR = "monitor"  # the alert rounds: alerts fired and resolved, a drift reference moved by its policy
SCHEDULER = "scheduler"  # source syncs and scheduled improvement runs


def key(key_id: str, name: str = "") -> str:
    """An API key: `key "ops-bot" (b54ec389)`, or `key b54ec389` when it has no name."""
    return f'key "{name}" ({key_id})' if name else f"key {key_id}"


def cli(login: str | None = None) -> str:
    """A person at the command line, said as such: `cli (alice)` (the login running the process)."""
    return f"cli ({login or _login()})"


def local() -> str:
    """A server with no API keys (loopback only): whoever uses this machine."""
    return "local server (no API keys)"


def automatic(what: str, why: str = "") -> str:
    """ragship acting on its own: `ingest (auto-promote)`, `improve run 3f2a…`, `scheduler`."""
    return f"{what} ({why})" if why else what


def recorded(key_id: str, names: Mapping[str, str]) -> str:
    """The key id a query log or feedback row holds, said as above: a key by its name (`names`: id -> name),
    the CLI ("cli") or a keyless local server ("local"), which the log records without a login."""
    return {"cli": "cli", "local": local()}.get(key_id) or key(key_id, names.get(key_id, ""))


def key_id_of(by: str) -> str | None:
    """The key id in what `key` wrote (`key "ops-bot" (b54ec389)` or `key b54ec389`); None for anyone else."""
    m = re.fullmatch(r'key (?:"[^"]*" \((\w+)\)|(\w+))', by or "")
    return (m[1] or m[2]) if m else None


def improve_run(run_id: str) -> str:
    return f"improve run {run_id}"


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid (a bare container)
        return "unknown user"

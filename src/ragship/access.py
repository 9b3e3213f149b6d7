"""Who may do what: API keys and roles, the document groups a caller may read and give, and the rule for serving
beyond loopback. The CLI and the server both apply these policies; neither holds its own.

API keys and roles. A key is shown once at creation; only its SHA-256 is stored (HOME/keys.json, written
atomically). Roles are ordered: reader < editor < admin. A reader's and an editor's document permissions are
their groups; an admin reads everything.

With no key at all the server is a local single-user one: it binds only to loopback (unless started with
--no-auth) and every request acts as the local admin."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ragship.errors import Forbidden, InputError
from ragship.fsio import atomic_write_json, corrupt, read_json
from ragship.util.clock import now
from ragship.util.files import FileCache

ROLES = ("reader", "editor", "admin")
PREFIX = "rsk_"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_GROUP = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, role and groups. `groups` None = every document (admin, local mode)."""

    key_id: str
    role: str
    groups: frozenset[str] | None

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


LOCAL = Principal("local", "admin", None)


@dataclass
class KeyRecord:
    id: str
    sha256: str
    role: str
    groups: list[str]
    name: str = ""
    created_at: str = field(default_factory=now)
    revoked: bool = False

    def principal(self) -> Principal:
        return Principal(self.id, self.role, None if self.role == "admin" else frozenset(self.groups))


class KeyStore:
    def __init__(self, path: Path):
        self.path = path
        self._records = FileCache(path, _read_keys)

    def records(self) -> dict[str, KeyRecord]:
        """Keys by id, re-read when the file changes (a key created by the CLI works without a restart)."""
        return dict(self._records.get())

    def any_active(self) -> bool:
        return any(not k.revoked for k in self.records().values())

    def create(self, role: str, groups: list[str], name: str = "") -> tuple[str, KeyRecord]:
        """A new key: returns the secret (shown once) and its record."""
        if role not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        bad = [g for g in groups if not _GROUP.match(g)]
        if bad:
            raise InputError(f"group names are letters, digits, _ . - (at most 64); got {bad[0]!r}")
        key_id = secrets.token_hex(4)
        secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        record = KeyRecord(key_id, _digest(secret), role, sorted(set(groups)), name)
        self._write({**self.records(), key_id: record})
        return secret, record

    def revoke(self, key_id: str) -> KeyRecord:
        records = self.records()
        if key_id not in records:
            raise InputError(f"no key with id {key_id!r}; `ragship keys list` shows them")
        records[key_id].revoked = True
        self._write(records)
        return records[key_id]

    def authenticate(self, secret: str) -> Principal | None:
        """The principal for a presented key, or None (unknown, malformed or revoked)."""
        match = re.match(rf"^{PREFIX}([0-9a-f]{{8}})_", secret or "")
        record = self.records().get(match.group(1)) if match else None
        if record is None or record.revoked or not hmac.compare_digest(record.sha256, _digest(secret)):
            return None
        return record.principal()

    def _write(self, records: dict[str, KeyRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, {"keys": [asdict(r) for r in records.values()]})
        self._records.forget()


def _read_keys(path: Path) -> dict[str, KeyRecord]:
    try:
        return {k["id"]: KeyRecord(**k) for k in read_json(path, default={"keys": []})["keys"]}
    except (TypeError, KeyError) as e:  # parses, but is not a key store
        raise corrupt(path, e) from None


def bind_warning(host: str, keys: KeyStore, no_auth: bool) -> str | None:
    """Serving beyond loopback needs an API key, or an explicit --no-auth (then the warning to show)."""
    if host in LOOPBACK or keys.any_active():
        return None
    if not no_auth:
        raise InputError(f"refusing to serve on {host} without API keys: create one with `ragship keys create "
                         "--role admin`, serve on 127.0.0.1, or pass --no-auth to accept the risk")
    return (f"serving on {host} with NO AUTHENTICATION (--no-auth): anyone who can reach this address can read, "
            "upload and delete every document.")


def upload_groups(principal: Principal, wanted: tuple[str, ...]) -> tuple[str, ...]:
    """Who may read what `principal` uploads: the groups asked for, which must be the caller's own; a grouped
    editor's uploads default to all its groups (never public by accident), an admin's to everyone."""
    if principal.groups is not None and not set(wanted) <= principal.groups:
        raise Forbidden("you may only give documents to groups your key belongs to")
    if principal.groups and not wanted:
        return tuple(sorted(principal.groups))
    return wanted


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()

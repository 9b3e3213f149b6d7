"""API keys and roles. A key is shown once at creation; only its SHA-256 is stored (HOME/keys.json, written
atomically). Roles are ordered: reader < editor < admin. A reader's and an editor's document permissions are
their groups; an admin reads everything.

With no key at all the server is a local single-user one: it binds only to loopback (unless started with
--no-auth) and every request acts as the local admin."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ragship.errors import InputError
from ragship.fsio import atomic_write_json, read_json
from ragship.index.versions import now

ROLES = ("reader", "editor", "admin")
PREFIX = "rsk_"
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
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, KeyRecord]] | None = None

    def records(self) -> dict[str, KeyRecord]:
        """Keys by id, re-read when the file changes (a key created by the CLI works without a restart)."""
        stamp = self.path.stat().st_mtime_ns if self.path.exists() else 0
        with self._lock:
            if self._cache is None or self._cache[0] != stamp:
                raw = read_json(self.path, default={"keys": []})
                self._cache = (stamp, {k["id"]: KeyRecord(**k) for k in raw["keys"]})
            return self._cache[1]

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
        with self._lock:
            self._cache = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()

"""Who may do what: API keys and roles, the document groups a caller may read and give, and the rule for serving
beyond loopback. The CLI and the server both apply these policies; neither holds its own.

API keys and roles. A key is shown once at creation; only its SHA-256 is stored, in the state store (shared by
every server process and replica; a home's older keys.json is imported once, and while it cannot be, every key is
refused: fail closed). Roles are ordered: reader < editor < admin. A reader's and an editor's document permissions are
their groups; an admin reads everything.

With no key at all the server is a local single-user one: it binds only to loopback (unless started with
--no-auth) and every request acts as the local admin."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ragship.errors import Forbidden, InputError, HomeFileDamaged, Unauthorized
from ragship.home import Home
from ragship.state import State
from ragship.state.tables import KEYS
from ragship.util.actor import key_id_of
from ragship.util.clock import now

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
    def __init__(self, state: State):
        self.state = state

    def records(self) -> dict[str, KeyRecord]:
        """Every key by id, as the store holds them now (a key created by the CLI works without a restart)."""
        with self._ready(read=True) as c:
            return {r.id: _record(r) for r in c.execute(select(KEYS))}

    def roles(self) -> dict[str, str]:
        """Every key's role by id, revoked ones too: whether a label or a review someone gave counts as an editor's
        (learn/labels.py, learn/review.py). Read as stored, like the keys of a label's rows: not a check of who may
        act now, so not refused while an older keys.json waits to be imported."""
        with self.state.ready(read=True) as c:
            return {key_id: role for key_id, role in c.execute(select(KEYS.c.id, KEYS.c.role))}

    def any_active(self) -> bool:
        with self._ready(read=True) as c:
            return c.execute(select(KEYS.c.id).where(KEYS.c.revoked.is_(False)).limit(1)).first() is not None

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
        with self._ready() as c:
            c.execute(KEYS.insert().values(**{**asdict(record), "groups": json.dumps(record.groups)}))
        return secret, record

    def revoke(self, key_id: str) -> KeyRecord:
        with self._ready() as c:
            if not c.execute(KEYS.update().where(KEYS.c.id == key_id).values(revoked=True)).rowcount:
                raise InputError(f"no key with id {key_id!r}; `ragship keys list` shows them")
            return _record(c.execute(select(KEYS).where(KEYS.c.id == key_id)).one())

    def authenticate(self, secret: str) -> Principal | None:
        """The principal for a presented key, or None (unknown, malformed or revoked)."""
        match = re.match(rf"^{PREFIX}([0-9a-f]{{8}})_", secret or "")
        if not match:
            return None
        with self._ready(read=True) as c:
            row = c.execute(select(KEYS).where(KEYS.c.id == match.group(1))).first()
        record = _record(row) if row is not None else None
        if record is None or record.revoked or not hmac.compare_digest(record.sha256, _digest(secret)):
            return None
        return record.principal()

    def bearer(self, authorization: str | None) -> Principal:
        """Who sends this `Authorization` header: LOCAL while no key exists (a single-user home), else the
        principal of its Bearer key; Unauthorized without a valid one."""
        if not self.any_active():
            return LOCAL
        scheme, _, secret = (authorization or "").partition(" ")
        principal = self.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise Unauthorized("send `Authorization: Bearer KEY` with a valid key (`ragship keys create` makes one)")
        return principal

    @contextmanager
    def _ready(self, read: bool = False) -> Iterator[Connection]:
        """The store's transaction; HomeFileDamaged while an older keys.json is there that could not be imported."""
        with self.state.ready(read) as c:
            legacy = Home(self.state.home).legacy_keys
            if legacy.exists():
                raise HomeFileDamaged(f"{legacy} could not be imported into the state store (see the log); every key "
                                   "is refused until then: restore keys.json from a backup (`ragship doctor`)")
            yield c


def _record(row) -> KeyRecord:
    return KeyRecord(row.id, row.sha256, row.role, json.loads(row.groups), row.name, row.created_at, row.revoked)


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


def upload_namespace(principal: Principal) -> str:
    """The folder below uploads/ that `principal`'s uploads are stored and named in: "" for a key that reads
    everything (an admin, local mode), else its own key id, so an upload never replaces a document of a name its
    key may not read (nor another key's)."""
    return "" if principal.groups is None else principal.key_id


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- what a caller sees of derived data --------------------------------------------------------------------------
# Queues, timelines, counts and examples are derived from documents and from people's questions; what a caller may
# see of them is decided here, once (ADR 0010), and the routes and the monitor call these functions.
def readable(principal: Principal, groups: Iterable[str]) -> bool:
    """Whether `principal` may read a document given to `groups` (none: everyone): the rule the index query
    applies to chunks (retrieve/filters.py), for what is derived from documents."""
    return principal.groups is None or not groups or bool(principal.groups & set(groups))


def sees(principal: Principal, groups: Iterable[str] | None, key_id: str | None = None) -> bool:
    """Whether `principal` may see a thing derived from documents given to `groups`, or made by the key `key_id`
    (its own things it always sees). `groups` None: derived from every document or from other people's questions,
    whose askers' groups are not known: only a caller who reads everything sees it."""
    return principal.groups is None or (key_id is not None and key_id == principal.key_id) or \
        (groups is not None and readable(principal, groups))


def answer_visible(principal: Principal, sources: Iterable[Mapping[str, Any]],
                   groups_of_chunk: Mapping[str, Iterable[str]]) -> bool:
    """Whether `principal` may see a logged answer and its question: every source it cited is readable (an answer
    that cited nothing, an abstention: every source it retrieved), each a mapping with its `chunk_id` and `cited`;
    `groups_of_chunk`: the live index's groups of those chunks, where a chunk it does not hold (deleted, or from
    another version) counts as unreadable for a grouped caller. Its other sources are left out where shown."""
    listed = list(sources)
    deciding = [s for s in listed if s.get("cited")] or listed
    return principal.groups is None or all(
        s["chunk_id"] in groups_of_chunk and readable(principal, groups_of_chunk[s["chunk_id"]]) for s in deciding)


def citations_for(principal: Principal, sources: Iterable[Mapping[str, Any]],
                  chunks: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A logged answer's citations (its cited sources, each with its number `n`; a row logged before the numbers
    were kept takes its position) as `principal` may see them now: `chunks`, the live index's by id with their
    groups; a chunk it no longer holds, or one the caller may not read now, is left out, its title and span too."""
    out = []
    for position, s in enumerate((s for s in sources if s.get("cited")), 1):
        c = chunks.get(s["chunk_id"])
        if c is not None and readable(principal, c["groups"] or ()):
            out.append({"n": s.get("n", position), "doc_id": c["doc_id"], "chunk_id": c["chunk_id"],
                        "title": c["title"], "start": c["start"], "end": c["end"]})
    return out


def words_visible(principal: Principal, asker: str | None, asker_groups: frozenset[str] | None) -> bool:
    """Whether `principal` may read the words of a question asked by the key `asker` (its groups `asker_groups`,
    None for one that reads everything: an admin, the home's owner, a key no longer known): its own, or one asked
    by a key that reads nothing beyond the caller's groups. A question may name what its asker could read, so a
    grouped caller never reads the words of someone who reads more (issue 48's trial: a finance reader's question
    naming a codename, shown to an eng editor because its answer cited a public page)."""
    return principal.groups is None or (asker is not None and asker == principal.key_id) or \
        (asker_groups is not None and asker_groups <= principal.groups)


def asker_groups(keys: KeyStore) -> dict[str, frozenset[str] | None]:
    """Every key's groups by id (None: it reads everything), for words_visible."""
    return {key_id: record.principal().groups for key_id, record in keys.records().items()}


def askers_visible(principal: Principal, askers: Mapping[str, frozenset[str] | None]) -> Callable[[str], bool]:
    """Whether `principal` may read the questions of a key, by its id (words_visible; `askers`: asker_groups), for a
    report built from many keys' questions (learn/gaps.py)."""
    return lambda asker: words_visible(principal, asker, askers.get(asker))


OTHER_GROUPS = "a key of other groups"


def incident_for(principal: Principal, incident: Any, askers: Mapping[str, frozenset[str] | None]) -> Any | None:
    """An incident (monitor/incidents.Incident) as `principal` may see it: None when a key whose words it may not
    read opened it by hand (its title is that key's words), else a copy whose entries written by such keys say only
    that one was written (a note, an acknowledgement) and not what or by whom. Alerts' own entries are ragship's."""
    def hidden(by: str) -> bool:
        key_id = key_id_of(by)
        return key_id is not None and not words_visible(principal, key_id, askers.get(key_id))

    if principal.groups is None:
        return incident
    opened = next((e for e in incident.entries if e["kind"] == "opened"), None)
    if opened is not None and hidden(opened["by"]):
        return None
    entries = [{**e, "text": f"{e['kind']} by {OTHER_GROUPS}", "by": OTHER_GROUPS} if hidden(e["by"]) else e
               for e in incident.entries]
    return replace(incident, entries=entries)


def versions_for(principal: Principal, versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Index versions as `principal` may see them: a grouped caller does not read the whole index's counts (how many
    documents, how many added or deleted: other groups' documents and when they came)."""
    if principal.groups is None:
        return versions
    return [{**v, "counts": None, "changes": None} for v in versions]


def labels_for(principal: Principal, status: dict[str, Any]) -> dict[str, Any]:
    """The learning loop's status (learn/loop.py) as `principal` may see it: a grouped caller reads who labeled by
    role only (how many keys, questions, labels and reviews), its own key apart, not other keys' ids and activity."""
    sources = (status.get("dataset") or {}).get("sources")
    if principal.groups is None or not sources:
        return status
    by_role: dict[str, dict[str, int]] = {}
    for key_id, k in sources["keys"].items():
        if key_id != principal.key_id:
            role = by_role.setdefault(k["role"], {"keys": 0, "questions": 0, "labels": 0, "reviews": 0})
            role["keys"] += 1
            for n in ("questions", "labels", "reviews"):
                role[n] += k[n]
    keys = {k: v for k, v in sources["keys"].items() if k == principal.key_id}
    return {**status, "dataset": {**status["dataset"], "sources": {**sources, "keys": keys, "by_role": by_role}}}


def feedback_for(principal: Principal, rows: Iterable[Mapping[str, Any]], askers: Mapping[str, frozenset[str] | None],
                 groups_of_chunk: Mapping[str, Iterable[str]]) -> list[dict[str, Any]]:
    """Feedback export rows (learn/feedback_export.py) as `principal` may see them: those about an answer it could
    review (its asker's words, the sources that decide it: as the review queue), the rater's comment and correction
    only where it may read the rater's words, marks only on sources it may read; never the sources themselves."""
    out = []
    for row in rows:
        if not (words_visible(principal, row["asker"], askers.get(row["asker"]))
                and answer_visible(principal, row["sources"], groups_of_chunk)):
            continue
        shown = {k: v for k, v in row.items() if k != "sources"}
        shown["marks"] = {c: m for c, m in row["marks"].items() if principal.groups is None or (
            c in groups_of_chunk and readable(principal, groups_of_chunk[c]))}
        if not words_visible(principal, row["rater"], askers.get(row["rater"])):
            shown.update(comment="(hidden: the rater's key reads more than yours)" if row["comment"] else "",
                         correction="")
        out.append(shown)
    return out


def history_for(principal: Principal, questions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A key's own questions (learn/history.py) as `principal` may see them: a failed one's error text (the server
    log's: it can name a file, a host or another group's document) only to a caller who reads everything; anyone
    else gets its exception type, what the 500 told it."""
    return [{**q, "error": q["error"].split(":", 1)[0] if q.get("error") and principal.groups is not None
             else q.get("error")} for q in questions]


def review_for(principal: Principal, review: Mapping[str, Any] | None, askers: Mapping[str, frozenset[str] | None],
               shown: Iterable[str]) -> dict[str, Any] | None:
    """An answer's latest review (learn/review.py) as `principal` may see it: its marks only on the sources `shown`
    (chunk ids), its correction only where it may read the reviewer's words."""
    if review is None:
        return None
    chunks = set(shown)
    out = {**review, "marks": {c: m for c, m in review["marks"].items() if c in chunks}}
    if not words_visible(principal, review["by"], askers.get(review["by"])):
        out["correction"] = ""
    return out


def sources_for(principal: Principal, entries: Iterable[Mapping[str, Any]],
                groups_of_source: Mapping[str, Iterable[str]]) -> list[dict[str, Any]]:
    """Freshness entries (monitor/freshness.py: one per [[sources]] path) as `principal` may see them: a source
    whose documents it may not read keeps its staleness figures but neither its path nor its last error (which
    names files)."""
    out = []
    for entry in entries:
        if readable(principal, groups_of_source.get(entry["source"], ())):
            out.append(dict(entry))
        else:
            out.append({**{k: v for k, v in entry.items() if k not in ("source", "last_error")},
                        "source": "a source outside your groups", "last_error": "hidden" if entry.get(
                            "last_error") else None})
    return out


def job_visible(principal: Principal, job: Mapping[str, Any]) -> bool:
    """Whether `principal` may see an upload job (its file names and document ids): the uploader's key, an admin,
    and a caller who may read the documents it makes (its `groups`; none: public)."""
    return sees(principal, job.get("groups") or [], job.get("key_id"))


def question_visible(principal: Principal, asked_by: str | None) -> bool:
    """Whether `principal` may see the text of a question asked by the key `asked_by` (None: not known): its own,
    or any to a caller who reads everything. A grouped caller gets counts of the others, never their words."""
    return sees(principal, None, asked_by)


def topics_for(principal: Principal, topics: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Drift topics (monitor/drift.py) as `principal` may see them: sizes and shares, with only the example
    questions it may read (the query log keeps no asker with them: none for a grouped caller) and how many were
    left out."""
    out = []
    for t in topics:
        shown = shown_questions(principal, list(t.get("examples", [])))
        out.append({**t, "examples": shown, "examples_hidden": len(t.get("examples", [])) - len(shown)})
    return out


def shown_questions(principal: Principal, questions: list[str], asked_by: Iterable[str | None] | None = None
                    ) -> list[str]:
    """The texts of `questions` (example questions of a drift topic, a gate's losers) that `principal` may see."""
    askers = list(asked_by) if asked_by is not None else [None] * len(questions)
    return [q for q, by in zip(questions, askers) if question_visible(principal, by)]


def redact(principal: Principal, entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Timeline entries as `principal` may see them. An entry that names files, documents or questions carries
    `private`: {"groups", "key_id", "text"[, "source"]}: who may see it (as `sees`), and the line that names
    nothing, shown to everyone else without author or extra fields (and without source unless `private` gives one
    that names nothing). `private` itself is never shown."""
    out = []
    for e in entries:
        private = e.get("private")
        e = {k: v for k, v in e.items() if k != "private"}
        if private is not None and not sees(principal, private.get("groups"), private.get("key_id")):
            e = {"at": e["at"], "kind": e["kind"], "text": private["text"], "by": "",
                 "source": private.get("source", "")}
        out.append(e)
    return out

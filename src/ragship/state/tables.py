"""The state store's tables, as the code reads and writes them. The schema itself is built and upgraded by the
Alembic revisions in state/migrations (a test checks that the two agree). Every name starts with `ragship_`, so
the store can share a PostgreSQL database with other applications.

Each table has one owner module that alone reads and writes it (OWNERS; STYLE.md "Storage", ADR 0024); any other
module calls the owner's methods. tests/state/test_table_owners.py fails naming a module that uses a table it does
not own, and the import contract "state-tables-owners" (pyproject.toml) lets only owners import this module. The
Alembic revisions and state/legacy.py (the one-time import of a home from before the store) are the schema's own."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

METADATA = MetaData()

# the rate-limit log: one row per admitted request, per key (a sliding-window log)
RATE_HITS = Table(
    "ragship_rate_hits", METADATA,
    Column("key_id", String(64), nullable=False),
    Column("at", Float, nullable=False),  # epoch seconds
    Index("ragship_rate_hits_key_at", "key_id", "at"),
)

# API keys: only the secret's SHA-256 is kept
KEYS = Table(
    "ragship_keys", METADATA,
    Column("id", String(16), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("groups", Text, nullable=False),  # JSON list
    Column("name", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("revoked", Boolean, nullable=False),
)

# upload jobs: a queue any server process may take a job from; a running job holds a lease it renews
JOBS = Table(
    "ragship_jobs", METADATA,
    Column("id", String(32), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("collection", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # queued, running, done, failed
    Column("created", Float, nullable=False),
    Column("lease_until", Float),
    Column("owner", String(200)),  # host:pid of the process running it
    Column("attempts", Integer, nullable=False),
    Column("body", Text, nullable=False),  # JSON: files, groups, progress, results, failures, error, times
    Index("ragship_jobs_status", "status", "lease_until"),
)

# the query log: one row per search or answer, and one per feedback
REQUESTS = Table(
    "ragship_requests", METADATA,
    Column("id", String(64), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("collection", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("abstained", Integer),
    Column("confidence", Float),
    Column("question", Text),
    Column("version", String(64)),
    Column("mode", String(16)),
    Column("outcome", String(16)),
    Column("hits", Integer),
    Column("top_score", Float),
    Column("margin", Float),
    Column("unverified", Integer),
    Column("stages", Text),  # JSON: milliseconds per stage
    Column("sketch", LargeBinary),  # the query's embedding, float16
    Column("answer", Text),  # the answer's text, as monitor.query_text allows
    Column("sources", Text),  # JSON: [{doc_id, chunk_id, cited}] in the order shown
    Column("error", Text),  # a failed request's error: its class and message
    Column("fallback", Text),  # an answer another generator wrote: "GENERATOR: why" (the LLM endpoint failed)
    Column("searched", Text),  # JSON: what an answer searched (Searched.to_dict) when not the question alone
    Column("conversation_id", String(64)),  # the conversation an answer belongs to (the API's `conversation_id`)
    Index("ragship_requests_ts", "ts"),
    Index("ragship_requests_collection_ts", "collection", "ts"),
    Index("ragship_requests_key_conversation", "key_id", "conversation_id"),
)
FEEDBACK = Table(
    "ragship_feedback", METADATA,
    Column("answer_id", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("rating", Integer, nullable=False),
    Column("comment", Text),
    Column("marks", Text),  # JSON: {chunk id: "helpful" | "wrong" | "opened"}
    Column("expected", String(16)),  # "answer" or "abstain": what the answer should have done
    Column("correction", Text),  # the answer it should have given
    Index("ragship_feedback_ts", "ts"),
    Index("ragship_feedback_answer", "answer_id"),
)

# improvement runs (learn/improve.py): one row per run, its report in `body`
IMPROVE_RUNS = Table(
    "ragship_improve_runs", METADATA,
    Column("id", String(32), primary_key=True),
    Column("collection", String(64), nullable=False),
    Column("started", Float, nullable=False),
    Column("finished", Float),
    Column("status", String(16), nullable=False),  # running, promoted, candidate, refused, unchanged, failed
    Column("trigger", Text, nullable=False),
    Column("body", Text, nullable=False),  # JSON
    Index("ragship_improve_runs_collection", "collection", "started"),
)

# the monitor: drift references, source freshness, alert states and the alert outbox
DRIFT_REFERENCE = Table(
    "ragship_drift_reference", METADATA,
    Column("collection", String(64), primary_key=True),
    Column("since", Float, nullable=False),
    Column("version", String(64)),
    Column("reason", Text),
    Column("set_at", Float, nullable=False),
)
SOURCE_SYNC = Table(
    "ragship_source_sync", METADATA,
    Column("collection", String(64), primary_key=True),
    Column("path", Text, primary_key=True),
    Column("last_attempt", Float),
    Column("last_success", Float, nullable=False),
    Column("last_error", Text),
    Column("version", String(64)),
)
ALERT_STATE = Table(
    "ragship_alert_state", METADATA,
    Column("name", String(128), primary_key=True),
    Column("collection", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("since", Float, nullable=False),
    Column("value", Float),
)
ALERT_EVENTS = Table(
    "ragship_alert_events", METADATA,
    Column("id", String(32), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("name", String(128), nullable=False),
    Column("collection", String(64), nullable=False),
    Column("event", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("delivery", String(16), nullable=False),  # pending, delivered, dead, none
    Column("attempts", Integer, nullable=False),
    Column("next_try", Float, nullable=False),
    Column("last_error", Text),
    Index("ragship_alert_events_delivery", "delivery", "next_try"),
)

# incidents (monitor/incidents.py): one row per incident; its alerts and hand-written entries in `body`
INCIDENTS = Table(
    "ragship_incidents", METADATA,
    Column("id", String(32), primary_key=True),
    Column("collection", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open, acknowledged, resolved
    Column("opened", Float, nullable=False),
    Column("acknowledged", Float),
    Column("resolved", Float),
    Column("body", Text, nullable=False),  # JSON: {"alerts": {name: state}, "entries": [{at, kind, text, by}]}
    Index("ragship_incidents_collection", "collection", "status"),
)

# what happened that no other table records, for incident timelines: a source that stopped syncing and came back,
# a state file found unreadable, a doctor repair, a drift reference reset
EVENTS = Table(
    "ragship_events", METADATA,
    Column("id", String(32), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("collection", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("by", String(200), nullable=False),
    Column("process", String(200), nullable=False),
    Index("ragship_events_collection_ts", "collection", "ts"),
)


# the module that owns each table
OWNERS = {
    "RATE_HITS": "ragship.state",  # State.admit
    "KEYS": "ragship.access",  # KeyStore
    "JOBS": "ragship.ingest.jobs",  # Jobs
    "REQUESTS": "ragship.monitor.querylog",  # QueryLog
    "FEEDBACK": "ragship.monitor.querylog",  # QueryLog
    "IMPROVE_RUNS": "ragship.learn.runs",  # Runs
    "DRIFT_REFERENCE": "ragship.monitor.drift",  # Drift
    "SOURCE_SYNC": "ragship.monitor.freshness",  # Freshness
    "ALERT_STATE": "ragship.monitor.alerts",  # Alerts
    "ALERT_EVENTS": "ragship.monitor.alerts",  # Alerts
    "INCIDENTS": "ragship.monitor.incidents",  # Incidents
    "EVENTS": "ragship.monitor.events",  # Events
}


def insert_new(c: Connection, table: Table, keys: tuple[str, ...]):
    """An INSERT that skips rows whose `keys` are taken (a plain INSERT for a table without a key)."""
    if not keys:
        return table.insert()
    return (postgresql if c.dialect.name == "postgresql" else sqlite).insert(table).on_conflict_do_nothing(
        index_elements=keys)


def upsert(c: Connection, table: Table, row: dict, keys: tuple[str, ...], replace: bool = True) -> None:
    """Insert `row`, or on a clash of its `keys` replace the other columns (or, `replace=False`, keep the old
    row): INSERT ... ON CONFLICT, which both SQLite and PostgreSQL speak."""
    insert = (postgresql if c.dialect.name == "postgresql" else sqlite).insert(table).values(**row)
    rest = {k: insert.excluded[k] for k in row if k not in keys}
    c.execute(insert.on_conflict_do_update(index_elements=keys, set_=rest) if replace and rest
              else insert.on_conflict_do_nothing(index_elements=keys))

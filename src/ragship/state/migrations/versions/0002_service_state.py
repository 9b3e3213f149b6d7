"""API keys, upload jobs, the query log and feedback, and the monitor's tables move into the state store
(issue 17: shared by every server process and replica). state/legacy.py imports a home's older files.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("ragship_keys", "ragship_jobs", "ragship_requests", "ragship_feedback", "ragship_drift_reference",
          "ragship_source_sync", "ragship_alert_state", "ragship_alert_events")


def upgrade() -> None:
    s, f, i, t = sa.String, sa.Float, sa.Integer, sa.Text
    op.create_table("ragship_keys",
                    sa.Column("id", s(16), primary_key=True), sa.Column("sha256", s(64), nullable=False),
                    sa.Column("role", s(16), nullable=False), sa.Column("groups", t, nullable=False),
                    sa.Column("name", t, nullable=False), sa.Column("created_at", s(40), nullable=False),
                    sa.Column("revoked", sa.Boolean, nullable=False))
    op.create_table("ragship_jobs",
                    sa.Column("id", s(32), primary_key=True), sa.Column("key_id", s(64), nullable=False),
                    sa.Column("collection", s(64), nullable=False), sa.Column("status", s(16), nullable=False),
                    sa.Column("created", f, nullable=False), sa.Column("lease_until", f),
                    sa.Column("owner", s(200)), sa.Column("attempts", i, nullable=False),
                    sa.Column("body", t, nullable=False))
    op.create_index("ragship_jobs_status", "ragship_jobs", ["status", "lease_until"])
    op.create_table("ragship_requests",
                    sa.Column("id", s(64), primary_key=True), sa.Column("ts", f, nullable=False),
                    sa.Column("key_id", s(64), nullable=False), sa.Column("collection", s(64), nullable=False),
                    sa.Column("kind", s(16), nullable=False), sa.Column("latency_ms", f, nullable=False),
                    sa.Column("abstained", i), sa.Column("confidence", f), sa.Column("question", t),
                    sa.Column("version", s(64)), sa.Column("mode", s(16)), sa.Column("outcome", s(16)),
                    sa.Column("hits", i), sa.Column("top_score", f), sa.Column("margin", f),
                    sa.Column("unverified", i), sa.Column("stages", t), sa.Column("sketch", sa.LargeBinary))
    op.create_index("ragship_requests_ts", "ragship_requests", ["ts"])
    op.create_index("ragship_requests_collection_ts", "ragship_requests", ["collection", "ts"])
    op.create_table("ragship_feedback",
                    sa.Column("answer_id", s(64), nullable=False), sa.Column("ts", f, nullable=False),
                    sa.Column("key_id", s(64), nullable=False), sa.Column("rating", i, nullable=False),
                    sa.Column("comment", t))
    op.create_index("ragship_feedback_ts", "ragship_feedback", ["ts"])
    op.create_index("ragship_feedback_answer", "ragship_feedback", ["answer_id"])
    op.create_table("ragship_drift_reference",
                    sa.Column("collection", s(64), primary_key=True), sa.Column("since", f, nullable=False),
                    sa.Column("version", s(64)), sa.Column("reason", t), sa.Column("set_at", f, nullable=False))
    op.create_table("ragship_source_sync",
                    sa.Column("collection", s(64), primary_key=True), sa.Column("path", t, primary_key=True),
                    sa.Column("last_attempt", f), sa.Column("last_success", f, nullable=False),
                    sa.Column("last_error", t), sa.Column("version", s(64)))
    op.create_table("ragship_alert_state",
                    sa.Column("name", s(128), primary_key=True), sa.Column("collection", s(64), primary_key=True),
                    sa.Column("state", s(16), nullable=False), sa.Column("since", f, nullable=False),
                    sa.Column("value", f))
    op.create_table("ragship_alert_events",
                    sa.Column("id", s(32), primary_key=True), sa.Column("ts", f, nullable=False),
                    sa.Column("name", s(128), nullable=False), sa.Column("collection", s(64), nullable=False),
                    sa.Column("event", s(16), nullable=False), sa.Column("payload", t, nullable=False),
                    sa.Column("delivery", s(16), nullable=False), sa.Column("attempts", i, nullable=False),
                    sa.Column("next_try", f, nullable=False), sa.Column("last_error", t))
    op.create_index("ragship_alert_events_delivery", "ragship_alert_events", ["delivery", "next_try"])


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)

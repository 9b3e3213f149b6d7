"""Incidents (issue 34): one row per incident, opened by an alert or by hand, with its alerts and entries; the
events no other table records (a source that stopped syncing, a doctor repair); a failed request's error and the
generator an answer fell back from, in the query log.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    s, f, t = sa.String, sa.Float, sa.Text
    op.create_table("ragship_incidents",
                    sa.Column("id", s(32), primary_key=True), sa.Column("collection", s(64), nullable=False),
                    sa.Column("title", t, nullable=False), sa.Column("status", s(16), nullable=False),
                    sa.Column("opened", f, nullable=False), sa.Column("acknowledged", f), sa.Column("resolved", f),
                    sa.Column("body", t, nullable=False))
    op.create_index("ragship_incidents_collection", "ragship_incidents", ["collection", "status"])
    op.create_table("ragship_events",
                    sa.Column("id", s(32), primary_key=True), sa.Column("ts", f, nullable=False),
                    sa.Column("collection", s(64), nullable=False), sa.Column("kind", s(32), nullable=False),
                    sa.Column("text", t, nullable=False), sa.Column("by", s(200), nullable=False),
                    sa.Column("process", s(200), nullable=False))
    op.create_index("ragship_events_collection_ts", "ragship_events", ["collection", "ts"])
    with op.batch_alter_table("ragship_requests") as batch:
        batch.add_column(sa.Column("error", t))
        batch.add_column(sa.Column("fallback", t))


def downgrade() -> None:
    with op.batch_alter_table("ragship_requests") as batch:
        for name in ("fallback", "error"):
            batch.drop_column(name)
    op.drop_table("ragship_events")
    op.drop_table("ragship_incidents")

"""Incidents (issue 34): one row per incident, opened by an alert or by hand, with its alerts and entries.

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


def downgrade() -> None:
    op.drop_table("ragship_incidents")

"""Learning from production (issue 33): an answer's sources and text kept with its log row, feedback that marks
sources and says whether the question should have been answered, and the improvement runs.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    s, f, t = sa.String, sa.Float, sa.Text
    with op.batch_alter_table("ragship_requests") as batch:
        batch.add_column(sa.Column("answer", t))
        batch.add_column(sa.Column("sources", t))
    with op.batch_alter_table("ragship_feedback") as batch:
        batch.add_column(sa.Column("marks", t))
        batch.add_column(sa.Column("expected", s(16)))
        batch.add_column(sa.Column("correction", t))
    op.create_table("ragship_improve_runs",
                    sa.Column("id", s(32), primary_key=True), sa.Column("collection", s(64), nullable=False),
                    sa.Column("started", f, nullable=False), sa.Column("finished", f),
                    sa.Column("status", s(16), nullable=False), sa.Column("trigger", t, nullable=False),
                    sa.Column("body", t, nullable=False))
    op.create_index("ragship_improve_runs_collection", "ragship_improve_runs", ["collection", "started"])


def downgrade() -> None:
    op.drop_table("ragship_improve_runs")
    with op.batch_alter_table("ragship_feedback") as batch:
        for name in ("correction", "expected", "marks"):
            batch.drop_column(name)
    with op.batch_alter_table("ragship_requests") as batch:
        for name in ("sources", "answer"):
            batch.drop_column(name)

"""The rate-limit log (issue 17, part 1). Stores made before Alembic already have it: created only if missing.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("ragship_rate_hits",
                    sa.Column("key_id", sa.String(64), nullable=False),
                    sa.Column("at", sa.Float, nullable=False),
                    if_not_exists=True)
    op.create_index("ragship_rate_hits_key_at", "ragship_rate_hits", ["key_id", "at"], if_not_exists=True)


def downgrade() -> None:
    op.drop_table("ragship_rate_hits")

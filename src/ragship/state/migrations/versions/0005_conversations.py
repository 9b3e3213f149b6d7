"""Conversations (issue 51): the query log keeps what each answer searched (the question with the earlier turns it
was asked after, or an LLM's rewrite of it) and the conversation it belongs to, indexed per key for a key's list
of its own conversations.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ragship_requests") as batch:
        batch.add_column(sa.Column("searched", sa.Text))
        batch.add_column(sa.Column("conversation_id", sa.String(64)))
    op.create_index("ragship_requests_key_conversation", "ragship_requests", ["key_id", "conversation_id"])


def downgrade() -> None:
    op.drop_index("ragship_requests_key_conversation", "ragship_requests")
    with op.batch_alter_table("ragship_requests") as batch:
        for name in ("conversation_id", "searched"):
            batch.drop_column(name)

"""Alembic's environment for the state store. ragship runs it in-process (state/migrate.py) on the connection it
already holds, inside the transaction that holds the schema lock; a developer runs it from the command line:

    alembic -c src/ragship/state/migrations/alembic.ini -x url=sqlite:///HOME/state.sqlite revision -m "..."
"""

from alembic import context
from sqlalchemy import create_engine

from ragship.state.tables import METADATA

connection = context.config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=METADATA)
    with context.begin_transaction():
        context.run_migrations()
else:
    with create_engine(context.get_x_argument(as_dictionary=True)["url"]).begin() as connection:
        context.configure(connection=connection, target_metadata=METADATA)
        with context.begin_transaction():
            context.run_migrations()

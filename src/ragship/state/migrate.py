"""The state store's schema, upgraded by Alembic on first use: the revisions in state/migrations run on the
connection the caller holds (inside its transaction, under its schema lock), so replicas starting together
upgrade once. A store newer than this ragship is refused rather than misread."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from ragship.errors import StateCorrupt

SCRIPTS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def revision(c: Connection) -> str | None:
    return MigrationContext.configure(c).get_current_revision()


def upgrade(c: Connection) -> None:
    """Bring the schema to this ragship's head revision (nothing to do when it is there already)."""
    have = revision(c)
    if have == head():
        return
    known = {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}
    if have is not None and have not in known:
        raise StateCorrupt(f"the state store's schema is at revision {have!r}, newer than this ragship knows "
                           f"(head {head()!r}): upgrade ragship on this machine, or point `state.url` elsewhere")
    config = _config()
    config.attributes["connection"] = c
    command.upgrade(config, "head")

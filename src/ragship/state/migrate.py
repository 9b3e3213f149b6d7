"""The state store's schema, upgraded by Alembic on first use: the revisions in state/migrations run on the
connection the caller holds (inside its transaction, under its schema lock), so replicas starting together
upgrade once. A store newer than this ragship is refused rather than misread."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Connection

from ragship.errors import HomeFileDamaged

SCRIPTS = Path(__file__).parent / "migrations"
# alembic is imported where it is used: commands that never open the store do not pay for it


def _config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def _scripts():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    return _scripts().get_current_head()


def revision(c: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(c).get_current_revision()


def upgrade(c: Connection) -> None:
    """Bring the schema to this ragship's head revision (nothing to do when it is there already)."""
    from alembic import command

    have, scripts = revision(c), _scripts()
    if have == scripts.get_current_head():
        return
    if have is not None and have not in {s.revision for s in scripts.walk_revisions()}:
        raise HomeFileDamaged(f"the state store's schema is at revision {have!r}, newer than this ragship knows "
                           f"(head {scripts.get_current_head()!r}): upgrade ragship on this machine, or point "
                           "`state.url` elsewhere")
    config = _config()
    config.attributes["connection"] = c
    command.upgrade(config, "head")

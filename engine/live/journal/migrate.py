"""Opening a journal brings its schema to the newest revision this gauntlet knows, with Alembic, from code:
the migrations ship inside the package and no alembic.ini is needed.

The check and the upgrade happen in one write transaction, so two processes opening a new journal at once
migrate it once (the second waits, then finds it current), and a crash mid-upgrade leaves the old schema.
A journal at a revision we do not know was written by a newer gauntlet and is refused, not touched; a SQLite
file with tables but no revision is someone else's database and is refused too.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from engine.live.journal.database import WRITE
from engine.live.journal.errors import JournalError

__all__ = ["MIGRATIONS", "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")


def head_revision() -> str:
    """The newest schema revision this gauntlet knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS}"
    return head


def upgrade(engine: Engine, where: str) -> str:
    """Bring the journal at `where` (for messages) to the head revision; returns that revision."""
    with engine.execution_options(**WRITE).begin() as connection:
        config = _config(connection)
        script = ScriptDirectory.from_config(config)
        head = script.get_current_head()
        current = set(MigrationContext.configure(connection).get_current_heads())
        known = {revision.revision for revision in script.walk_revisions()}
        if unknown := sorted(current - known):
            raise JournalError(f"{where} is at schema revision {', '.join(unknown)}, which this gauntlet does not know "
                               f"(its newest is {head}): it was written by a newer gauntlet; open it with that one")
        if not current and (tables := sorted(inspect(connection).get_table_names())):
            raise JournalError(f"{where} is a database but not a gauntlet journal: it has no schema revision and "
                               f"holds other tables ({', '.join(tables)})")
        if current != {head}:
            command.upgrade(config, "head")
    return str(head)


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config

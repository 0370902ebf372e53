"""Schema migrations, configured in code: the Alembic scripts ship inside the package.

`upgrade(engine)` brings any database (SQLite or PostgreSQL) to the newest schema in one
transaction. Several site scanners may start at once against one central PostgreSQL: an
advisory lock lets one migrate while the others wait, then find nothing to do.

Before anything is written, `verify` makes sure the database is an inventory this camaudit
can use: a database holding another application's tables, or an inventory at a revision a
newer camaudit wrote, is refused rather than changed.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from camaudit.db.errors import ForeignDatabase, NewerSchema
from camaudit.db.models import Base

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x63616D61  # "cama": an arbitrary constant all camaudit processes share
VERSION_TABLE = "alembic_version"


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def verify(connection: Connection, url: str) -> str | None:
    """The schema revision of this database, or ForeignDatabase / NewerSchema (reads only).

    An empty database is fine (it becomes an inventory). A database with tables but no
    revision, or with a revision and none of the inventory's tables, belongs to another
    application; a revision this camaudit's scripts do not know was written by a newer one.
    """
    tables = sorted(inspect(connection).get_table_names())
    revision = current_revision(connection) if VERSION_TABLE in tables else None
    if revision is None:
        if tables:
            raise ForeignDatabase(url, tables)
        return None
    script = ScriptDirectory.from_config(_config())
    if revision in {s.revision for s in script.walk_revisions()}:
        return revision
    if not set(Base.metadata.tables) & set(tables):
        raise ForeignDatabase(url, [t for t in tables if t != VERSION_TABLE] or tables)
    raise NewerSchema(url, revision, script.get_current_head())


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Migrate to head; returns (revision before, revision after)."""
    head = head_revision()
    with engine.connect().execution_options(camaudit_write=True) as conn:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
            before = verify(conn, engine.url.render_as_string(hide_password=True))
            if before != head:
                command.upgrade(_config(conn), "head")
    return before, head

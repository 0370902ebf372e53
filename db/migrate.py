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
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect

from camaudit.db.errors import ForeignDatabase, NewerSchema
from camaudit.db.models import Base

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x63616D61  # "cama": an arbitrary constant all camaudit processes share
VERSION_TABLE = "alembic_version"


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # Alembic (~0.1 s to import) only when a script is read or run

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    """The head as Alembic computes it from the scripts' revision graph."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def shipped_head() -> str:
    """The newest shipped revision, from the script names alone (`NNNN_what.py` holds revision
    `NNNN`, each revising the one before; tests/store/test_migrate_head.py checks both rules).

    An inventory already at this revision needs no migration, so opening it never imports
    Alembic: that import is a tenth of a second of every scan's start.
    """
    return max(p.name[:4] for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def current_revision(connection: Connection) -> str | None:
    """The revision stored in the database's version table, None without one."""
    return _stored_revision(connection, inspect(connection).get_table_names())


def _stored_revision(connection: Connection, tables: list[str]) -> str | None:
    if VERSION_TABLE not in tables:
        return None
    rows = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").all()
    return rows[0][0] if len(rows) == 1 else None


def verify(connection: Connection, url: str) -> str | None:
    """The schema revision of this database, or ForeignDatabase / NewerSchema (reads only).

    An empty database is fine (it becomes an inventory). A database with tables but no
    revision, or with a revision and none of the inventory's tables, belongs to another
    application; a revision this camaudit's scripts do not know was written by a newer one.
    """
    tables = sorted(inspect(connection).get_table_names())
    revision = _stored_revision(connection, tables)
    if revision is None:
        if tables:
            raise ForeignDatabase(url, tables)
        return None
    if revision == shipped_head():
        return revision
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config())
    if revision in {s.revision for s in script.walk_revisions()}:
        return revision
    if not set(Base.metadata.tables) & set(tables):
        raise ForeignDatabase(url, [t for t in tables if t != VERSION_TABLE] or tables)
    raise NewerSchema(url, revision, script.get_current_head())


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Migrate to head; returns (revision before, revision after)."""
    head = shipped_head()
    with engine.connect().execution_options(camaudit_write=True) as conn:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
            before = verify(conn, engine.url.render_as_string(hide_password=True))
            if before != head:
                from alembic import command

                command.upgrade(_config(conn), "head")
    return before, head

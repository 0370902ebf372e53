"""Opening an inventory database: URL → SQLAlchemy Engine, and the transactions the store uses.

Kept apart from what the store writes and reads because it is where the two dialects differ:
SQLite gets a private file (0600), WAL, a busy timeout and `BEGIN IMMEDIATE` for writers, and
is refused before the engine touches it when it is not an inventory this camaudit can use
(random bytes, another application's tables, a newer schema); PostgreSQL gets a pre-pinged
pool whose sessions compress large values with lz4 when the server can, and larger batches.
Everything else in db/ goes through `Database` and never asks which dialect it runs on.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DBAPIError, OperationalError

from camaudit.db import migrate
from camaudit.db.errors import (
    BadDatabaseUrl,
    CorruptDatabase,
    InMemoryDatabase,
    StoreUnavailable,
    UnsupportedDatabase,
)
from camaudit.observation import loads_json
from camaudit.redact import mask_secrets


def default_url() -> str:
    """The default inventory: a SQLite file in the user's data directory."""
    return f"sqlite:///{Path(platformdirs.user_data_dir('camaudit')) / 'inventory.sqlite3'}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


SQLITE_BATCH, POSTGRES_BATCH = 500, 2500


class Database:
    """One opened inventory: its engine, the clock rows are stamped with, and transactions."""

    def __init__(self, url: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.url = url
        self.clock = clock
        self.engine = make_engine(url)

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return mask_secrets(self.url)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (SQLite: BEGIN IMMEDIATE, so writers queue on the busy timeout)."""
        with self.engine.connect().execution_options(camaudit_write=True) as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction whose statements all see one state of the database: SQLite's
        read transactions do; PostgreSQL's default (READ COMMITTED) does not, per statement."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @property
    def batch(self) -> int:
        """Devices a scan writes per transaction. SQLite runs a batch in process: 500 keep a
        writer's lock short at no cost. On PostgreSQL each batch is a dozen statements, a few
        temporary tables and their round trips whatever its size, so larger batches store a
        10,000-device scan faster (2,500: 4 batches instead of 20)."""
        return POSTGRES_BATCH if self.engine.dialect.name == "postgresql" else SQLITE_BATCH

    def insert(self, table: Any) -> Any:
        """An INSERT that supports ON CONFLICT on both dialects we ship for."""
        # the dialect's module is imported by its engine already; importing PostgreSQL's at
        # start-up cost every SQLite user ≈ 40 ms
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert
            return pg_insert(table)
        if self.engine.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert
            return sqlite_insert(table)
        raise UnsupportedDatabase(self.engine.dialect.name)

    def upgrade(self) -> tuple[str | None, str | None]:
        """Create or migrate the schema (one transaction); returns (revision before, after)."""
        try:
            return migrate.upgrade(self.engine)
        except DBAPIError as exc:
            # OperationalError: the server cannot be reached or refuses us. Any other driver
            # error raised before a statement ran is about the connection too (psycopg's
            # "invalid connection option" for an unknown URL query parameter).
            if not isinstance(exc, OperationalError) and exc.statement is not None:
                raise
            reason = " ".join(str(exc.orig).split())  # drivers' messages span lines
            raise StoreUnavailable(f"cannot open the inventory {self.safe_url}: "
                                   f"{mask_secrets(reason)}") from exc


def _json_column_text(value: Any) -> str:
    """A JSON column's text: orjson (the raw observation and the evidence of every row are
    most of what storing a scan and rematch encode and decode), the stdlib for what orjson
    refuses (lone surrogates, integers beyond 64 bits), escaped to ASCII as before."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


# loads_json reads what the stdlib wrote before (NaN included); orjson writes NaN as null,
# which PostgreSQL's JSON type needs anyway
_JSON_CODEC: dict[str, Any] = {"json_serializer": _json_column_text, "json_deserializer": loads_json}


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: e.g. a non-numeric port
        raise BadDatabaseUrl(url) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        return _postgres_engine(url)
    raise UnsupportedDatabase(parsed.get_backend_name())


# JSON values over ~2 kB (raw observations, an asset's evidence) are compressed as they are
# stored; pglz, the default, was a tenth of the server's time storing a 10,000-device scan.
# A server built with lz4 (PostgreSQL 14+) compresses this session's values with it, and
# reads either kind; one built without it keeps pglz (the query then sets nothing).
_LZ4 = ("SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings "
        "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")


def _postgres_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, **_JSON_CODEC)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute(_LZ4)
        dbapi_conn.commit()      # a setting made in a transaction rolled back would be undone

    return engine


def _sqlite_engine(url: str, path: str | None) -> Engine:
    if not path or path == ":memory:":
        raise InMemoryDatabase(url)
    try:
        _create_private_file(Path(path))
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the inventory file {path}: {exc.strerror or exc}",
                               path=path) from exc
    _check_sqlite_file(url, path)
    engine = create_engine(url, connect_args={"timeout": 30}, **_JSON_CODEC)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # take transactions into our own hands (pysqlite would not BEGIN before DDL)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")      # writers queue instead of failing
        _ensure_wal(cur)                              # readers never block the scan writer
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")      # WAL + NORMAL: durable at checkpoints, no corruption
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("camaudit_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _check_sqlite_file(url: str, path: str) -> None:
    """Refuse a file that is not a usable inventory before the engine touches it.

    Opening the engine switches the file to WAL (a write to its header), so the file is
    first read through a read-only connection: random bytes raise CorruptDatabase, another
    application's tables or a newer schema revision raise what `migrate.verify` raises. A file
    the read-only connection cannot open at all is left to the engine, which says why.
    """
    if os.path.getsize(path) == 0:
        return    # new, or created empty a moment ago: it becomes an inventory
    uri = f"file:{quote(path)}?mode=ro"
    probe = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    try:
        with probe.connect() as conn:
            migrate.verify(conn, url)
    except OperationalError:
        return
    except DatabaseError as exc:
        raise CorruptDatabase(url, str(exc.orig)) from None
    finally:
        probe.dispose()


def _ensure_wal(cur: Any, patience: float = 30.0) -> None:
    """Put the file in WAL mode (a property of the file: set once, then only read).

    Two scanners opening a new inventory at the same moment both try to switch it, and SQLite
    answers the loser "database is locked" at once, without consulting the busy timeout; so
    that one statement is retried until the other has finished switching.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _create_private_file(path: Path) -> None:
    """The inventory lists an organisation's weak spots: create it readable by its owner only.

    An existing file is left untouched, never opened: closing any descriptor of a SQLite file
    drops every POSIX lock this process holds on it, so another process would take our open
    WAL connections for gone, checkpoint and delete the WAL under them (a corrupt database).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except FileExistsError:
        return
    os.close(fd)

"""Many rows in few statements: what storing a large scan costs on PostgreSQL.

SQLite runs an executemany in process, without round trips, so its rows go through
SQLAlchemy's executemany. On PostgreSQL an executemany costs a round trip per row, or (with
RETURNING) one statement text of thousands of placeholders that the driver parses in Python:
storing a 10,000-device scan took 12.5 s. There, rows travel by COPY (into the table itself,
or into a temporary table that one INSERT … SELECT or UPDATE … FROM applies, with the same
conflict handling and RETURNING), and an IN list is one array parameter.

The values are those an executemany would send (each column's bind processing: JSON text,
UTC timestamps), and a driver error is raised as SQLAlchemy's error of its kind, so callers
see the same failures on both paths (a refused device is still a DataError, or the
UnicodeError of text no encoding holds).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (Column, ColumnElement, Connection, Table, any_, bindparam, column, func, insert, literal,
                        select, table, update)
from sqlalchemy.exc import DBAPIError

from camaudit.db.engine import Database

_staging = itertools.count()


def _postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def among(conn: Connection, col: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`col IN values`: on PostgreSQL `col = ANY(array)`, one parameter however many values."""
    values = list(values)
    if _postgres(conn):
        from sqlalchemy.dialects.postgresql import ARRAY  # loaded by the engine already; not on SQLite
        return col == any_(bindparam(None, values, type_=ARRAY(col.type)))
    return col.in_(values)


def insert_rows(db: Database, conn: Connection, target: Table, rows: Sequence[Mapping[str, Any]], *,
                conflict: Sequence[str] = (), returning: Sequence[Column[Any]] = ()) -> list[Any]:
    """INSERT `rows` (all with the same keys); `conflict`: the unique columns whose clash skips
    a row (ON CONFLICT DO NOTHING); returns the `returning` columns of the rows inserted."""
    if not rows:
        return []
    if not _postgres(conn):
        stmt = db.insert(target)
        if conflict:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
        if returning:
            return list(conn.execute(stmt.returning(*returning), list(rows)))
        conn.execute(stmt, list(rows))
        return []
    names = list(rows[0])
    if not conflict and not returning:
        _copy(conn, target, names, rows, target.name)
        return []
    stage = _stage(conn, target, names, rows)
    stmt = db.insert(target).from_select(names, select(*(stage.c[n] for n in names)))
    if conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    if returning:
        return list(conn.execute(stmt.returning(*returning)))
    conn.execute(stmt)
    return []


def insert_counted(db: Database, conn: Connection, target: Table, rows: Sequence[Mapping[str, Any]], *,
                   conflict: Sequence[str], child: Table, key: str, values: Mapping[str, Any]) -> int:
    """`insert_rows` with `conflict`, and for each row inserted one `child` row of `values`
    whose `key` is the new row's id; returns how many rows were inserted. On PostgreSQL the
    child rows are written by the same statement, so the new ids never travel to the client
    and back (a scan opening 22,500 findings writes 22,500 events)."""
    if not _postgres(conn) or not rows:
        inserted = insert_rows(db, conn, target, rows, conflict=conflict, returning=[target.c.id])
        insert_rows(db, conn, child, [{**values, key: r.id} for r in inserted])
        return len(inserted)
    names = list(rows[0])
    stage = _stage(conn, target, names, rows)
    new = (db.insert(target).from_select(names, select(*(stage.c[n] for n in names)))
           .on_conflict_do_nothing(index_elements=list(conflict)).returning(target.c.id).cte("inserted"))
    children = insert(child).from_select(
        [key, *values], select(new.c.id, *(literal(v, child.c[n].type) for n, v in values.items()))).cte("children")
    return int(conn.execute(select(func.count()).select_from(new).add_cte(children)).scalar_one())


def update_rows(conn: Connection, target: Table, rows: Sequence[Mapping[str, Any]], key: str = "b_id") -> None:
    """UPDATE the rows of `target` whose id is each row's `key` with that row's other values
    (all rows with the same keys). A row updated twice takes its last values, as in an
    executemany."""
    if not rows:
        return
    if not _postgres(conn):
        conn.execute(update(target).where(target.c.id == bindparam(key)), list(rows))
        return
    last = list({row[key]: row for row in rows}.values())
    names = [n for n in last[0] if n != key]
    stage = _stage(conn, target, names, [{**row, "id": row[key]} for row in last], with_id=True)
    conn.execute(update(target).where(target.c.id == stage.c.id)
                 .values({n: stage.c[n] for n in names}))


def _stage(conn: Connection, target: Table, names: list[str], rows: Sequence[Mapping[str, Any]], *,
           with_id: bool = False) -> Any:
    """A temporary table (dropped at commit) with `target`'s types for these columns, filled by COPY."""
    name = f"camaudit_stage_{next(_staging)}"
    columns = (["id"] if with_id else []) + names
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in columns)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS "
                         f"SELECT {quoted} FROM {target.name} WITH NO DATA")
    _copy(conn, target, columns, rows, name)
    return table(name, *(column(n) for n in columns))


def _copy(conn: Connection, target: Table, names: list[str], rows: Sequence[Mapping[str, Any]],
          into: str) -> None:
    dialect = conn.dialect
    processors = [(n, _repeating(target.c[n].type.dialect_impl(dialect).bind_processor(dialect)))
                  for n in names]
    quoted = ", ".join(dialect.identifier_preparer.quote(n) for n in names)
    statement = f"COPY {into} ({quoted}) FROM STDIN"
    cursor = conn.connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[n] if p is None else p(row[n]) for n, p in processors])
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
    finally:
        cursor.close()


_NOTHING = object()


def _repeating(process: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """A column's bind processing, run once for a run of rows that hold the same value: the
    batch's timestamp repeats in every row of it, and converting one timestamp to naive UTC
    for each of a scan's 100,000 rows is work for nothing."""
    if process is None:
        return None
    last: list[Any] = [_NOTHING, None]

    def cached(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]
    return cached

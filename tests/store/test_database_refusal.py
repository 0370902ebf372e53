"""Databases camaudit must not use: random bytes, another application's database, an
inventory a newer camaudit wrote. Each is refused with one line and exit 3, and never written."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from camaudit.db.errors import CorruptDatabase, ForeignDatabase, NewerSchema
from camaudit.db.store import Store
from camaudit.cli import main
from camaudit.exitcodes import ExitCode


def cli(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--db", url, "--config", "/dev/null"])
    return result.exit_code, result.stderr


def _foreign(url: str) -> None:
    """Another application's database: its own table and a row."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(50))"))
        conn.execute(text("INSERT INTO customers (id, name) VALUES (1, 'Ada')"))
    engine.dispose()


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _set_revision(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_a_foreign_database_is_refused_and_left_unchanged(db_url: str) -> None:
    _foreign(db_url)
    with pytest.raises(ForeignDatabase) as caught:
        Store(db_url)
    assert caught.value.tables == ["customers"]
    assert _tables(db_url) == ["customers"]


def test_an_inventory_of_a_newer_schema_is_refused(db_url: str) -> None:
    Store(db_url).close()
    _set_revision(db_url, "ffffffffffff")
    with pytest.raises(NewerSchema) as caught:
        Store(db_url)
    assert caught.value.revision == "ffffffffffff"
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "ffffffffffff"
    engine.dispose()


def _one_line_exit_3(url: str, *needles: str) -> None:
    for command in (["assets"], ["findings"], ["db", "upgrade"]):
        code, err = cli(url, *command)
        assert code == ExitCode.RUNTIME, (command, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        for needle in needles:
            assert needle in err, err


def test_cli_refuses_a_foreign_sqlite_file_without_writing_a_byte(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite3"
    url = f"sqlite:///{path}"
    _foreign(url)
    before = path.read_bytes()
    _one_line_exit_3(url, "another application", "customers", "untouched", "--db")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.sqlite3"]   # no WAL either
    assert _tables(url) == ["customers"]


def test_cli_refuses_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "inventory.sqlite3"
    path.write_bytes(random.Random(7).randbytes(16384))
    before = path.read_bytes()
    _one_line_exit_3(f"sqlite:///{path}", "not a readable SQLite database", "backup")
    assert path.read_bytes() == before


def test_cli_refuses_a_newer_inventory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    Store(url).close()
    _set_revision(url, "ffffffffffff")
    _one_line_exit_3(url, "ffffffffffff", "newer camaudit", "upgrade camaudit")


@pytest.mark.parametrize("error", [
    lambda url: CorruptDatabase(url, "file is not a database"),
    lambda url: ForeignDatabase(url, ["customers"]),
    lambda url: NewerSchema(url, "9999", "0001"),
])
def test_a_refused_database_names_its_url_without_the_password(error) -> None:
    exc = error("postgresql+psycopg://audit@db.example/inv?sslmode=require&password=hunter2")
    assert "hunter2" not in str(exc) and "hunter2" not in exc.url
    assert "db.example/inv" in str(exc)

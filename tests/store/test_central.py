"""A central inventory: several site scanners write one database at the same time."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

from sqlalchemy import text

from camaudit.db import migrate
from camaudit.db.store import Store


def test_two_sites_scan_into_one_database_at_once(db_url, flagged_hikvision, run_scan):
    """Fresh database, two scanners start together (both migrate), write overlapping devices.

    30 devices carry MACs both sites see (a laptop-borne camera moved between sites): they
    must end up as one asset each; nothing is lost or duplicated.
    """
    shared = [flagged_hikvision(ip=f"198.18.9.{i}", mac=f"c0:56:e3:09:00:{i:02x}") for i in range(30)]

    def site_devices(n: int) -> list:
        return [flagged_hikvision(ip=f"198.18.{n}.{i % 250 + 1}",
                                        mac=f"c0:56:e3:{n:02x}:{i // 256:02x}:{i % 256:02x}")
                for i in range(700)] + shared

    start = threading.Barrier(2)
    errors: list[BaseException] = []
    scan_ids: dict[str, int] = {}

    def scanner(site: str, n: int) -> None:
        try:
            start.wait()
            store = Store(db_url)
            scan_ids[site] = run_scan(store, site_devices(n), site=site, covered=(f"198.18.{n}.0/24",))
            store.close()
        except BaseException as exc:   # surfaced by the main thread's assertion
            errors.append(exc)

    threads = [threading.Thread(target=scanner, args=(site, n)) for site, n in (("hq", 1), ("branch", 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = Store(db_url)
    assets = store.assets()
    assert len(assets) == 2 * 700 + 30
    assert len({a["identity"] for a in assets}) == len(assets)
    assert len(store.finding_rows()) == len(assets)
    for site, sid in scan_ids.items():
        assert store.scans(site=site)[0]["devices"] == 730
        assert len(store.diff(sid, sid)["changed"]) == 0
    store.close()


def test_sqlite_file_is_private_wal_and_migrated(tmp_path: Path):
    path = tmp_path / "sub" / "inventory.sqlite3"
    store = Store(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert migrate.current_revision(conn) == migrate.head_revision()
    store.close()
    again = Store(f"sqlite:///{path}")           # reopening is a no-op, not a second migration
    assert migrate.upgrade(again.engine) == (migrate.head_revision(), migrate.head_revision())
    again.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()


def test_migration_failure_leaves_no_half_schema(tmp_path: Path, monkeypatch):
    """A migration that dies midway rolls back whole: no tables, no version row."""
    import alembic.command

    path = tmp_path / "inventory.sqlite3"
    real = alembic.command.upgrade

    def dying_upgrade(cfg, rev):
        real(cfg, rev)                       # all DDL has run inside the transaction…
        raise KeyboardInterrupt              # …and the process is interrupted before commit

    monkeypatch.setattr(alembic.command, "upgrade", dying_upgrade)
    try:
        Store(f"sqlite:///{path}")
    except KeyboardInterrupt:
        pass
    con = sqlite3.connect(path)
    assert con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall() == []
    con.close()
    monkeypatch.undo()
    Store(f"sqlite:///{path}").close()
    assert os.path.getsize(path) > 0


def test_models_and_shipped_migrations_agree(db_url):
    """A model change without its migration script fails here, on both databases."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from camaudit.db.models import Base

    store = Store(db_url)
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    store.close()


WRITER = """
import sys
from types import SimpleNamespace as NS
from camaudit.db.store import Store
store = Store(sys.argv[1])
sid = store.begin_scan(["10.0.0.0/24"], "hq", ["p"], "t", None)
store.record_identifications(sid, [NS(ip=f"10.0.0.{i}", mac=None, vendor="Hikvision", brand=None,
    model=None, firmware=None, serial=None, device_type=None, flagged=True, policies=["p"],
    confidence=1.0, evidence=[]) for i in range(1, 200)], ["10.0.0.0/24"])
store.finish_scan(sid)
store.close()
"""


def test_second_store_in_a_process_does_not_corrupt_other_writers(tmp_path: Path):
    """Regression: opening a Store must not open/close an existing SQLite file by hand.

    Closing any descriptor of the file drops this process's POSIX locks, so a scan in another
    process believed it was the last connection, checkpointed and deleted the WAL under our
    open one: "database disk image is malformed" (found by the lab lifecycle walk).
    """
    import subprocess
    import sys

    from camaudit.db.lifecycle import Change

    path = tmp_path / "inventory.sqlite3"
    url = f"sqlite:///{path}"
    subprocess.run([sys.executable, "-c", WRITER, url], check=True, timeout=60)
    reader = Store(url)
    reader.finding_rows()                 # a pooled WAL connection stays open
    other = Store(url)                    # e.g. `camaudit remediate` run in-process
    other.remediate([1], Change(to="remediated", actor="t"))
    other.close()
    for _ in range(2):
        subprocess.run([sys.executable, "-c", WRITER, url], check=True, timeout=60)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    assert len(reader.finding_rows()) == 199
    reader.close()


def test_scanners_opening_a_new_sqlite_inventory_at_once_both_succeed(tmp_path):
    """Two first-time openers race to switch the file to WAL; the loser must wait, not fail.

    Without the retry in camaudit.db.engine._ensure_wal about one round in ten failed with
    "database is locked"; 20 rounds make a regression all but certain to show.
    """

    for round_ in range(20):
        url = f"sqlite:///{tmp_path / f'inv{round_}.sqlite3'}"
        errors: list[BaseException] = []

        def open_close() -> None:
            try:
                Store(url).close()
            except BaseException as exc:
                errors.append(exc)
        threads = [threading.Thread(target=open_close) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], f"round {round_}"

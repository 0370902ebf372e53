"""Migration 0006: the indexes every scan kept up to date for no query are dropped, and the
lookups they seemed to serve still read an index (the unique constraints' indexes)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from camaudit.db import migrate
from camaudit.db.store import Store

DROPPED = {"sightings": "ix_sightings_scan_id", "findings": "ix_findings_asset_id", "assets": "ix_assets_vendor"}
HIK_MAC = "c0:56:e3:00:00:61"


def index_names(conn, table: str) -> set[str]:
    return {i["name"] for i in inspect(conn).get_indexes(table)}


def test_upgrade_from_0005_drops_the_unused_indexes_and_keeps_the_data(db_url: str, run_scan,
                                                                       flagged_hikvision) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0005")
        assert all(name in index_names(conn, table) for table, name in DROPPED.items())
    engine.dispose()
    with Store(db_url) as store:          # opening it migrates to the head
        first = run_scan(store, [flagged_hikvision("198.18.0.61", HIK_MAC)])
        second = run_scan(store, [flagged_hikvision("198.18.0.62", HIK_MAC)])
        with store.db.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision() == "0006"
            for table, name in DROPPED.items():
                assert name not in index_names(conn, table)
        # what read through the dropped indexes: sightings of a scan, findings of an asset
        [moved] = store.diff(first, second)["changed"]
        assert moved["changes"] == {"ip": {"from": "198.18.0.61", "to": "198.18.0.62"}}
        assert len(store.resolve(HIK_MAC)) == 1
        assert [a["vendor"] for a in store.assets(vendor="HIKVISION")] == ["Hikvision"]
    engine = create_engine(db_url)
    with engine.begin() as conn:
        command.downgrade(migrate._config(conn), "0005")
        assert all(name in index_names(conn, table) for table, name in DROPPED.items())
    engine.dispose()


def test_sqlite_reads_sightings_by_scan_and_findings_by_asset_through_the_unique_indexes(tmp_path) -> None:
    """SQLite names the index it searches: not a scan of the table."""
    with Store(f"sqlite:///{tmp_path / 'inv.sqlite3'}") as store, store.db.engine.connect() as conn:
        for query in ("SELECT * FROM sightings WHERE scan_id = 1",
                      "SELECT id, status FROM findings WHERE asset_id IN (1, 2, 3)"):
            plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + query)))
            assert "USING INDEX sqlite_autoindex" in plan, (query, plan)

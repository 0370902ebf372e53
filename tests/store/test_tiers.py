"""Confidence tiers in the inventory: stored with assets and sightings, refreshed by every
scan and by rematch, filled in by the migration from the schema before tiers, filtered by
`camaudit findings --tier`, and only confirmed/probable findings count for exit code 1."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from alembic import command
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from camaudit.cli import main
from camaudit.db import migrate
from camaudit.db.store import Store
from camaudit.exitcodes import ExitCode
from camaudit.fingerprints.loader import build_set
from camaudit.fingerprints.vocabulary import load_vocabulary
from camaudit.identify import identify
from camaudit.observation import Observation
from camaudit.oui import load_layers
from camaudit.policy import load_policies

COVERED = ["198.18.0.0/24"]


def test_tier_is_stored_with_asset_sighting_and_finding_rows(store, flagged_hikvision, run_scan):
    run_scan(store, [flagged_hikvision("198.18.0.10", "c0:56:e3:00:00:10", tier="possible"),
                     flagged_hikvision("198.18.0.11", "c0:56:e3:00:00:11", tier="confirmed"),
                     flagged_hikvision("198.18.0.12", "c0:56:e3:00:00:12", tier="sure")])
    assert {a["ip"]: a["tier"] for a in store.assets()} == {
        "198.18.0.10": "possible", "198.18.0.11": "confirmed", "198.18.0.12": None}
    assert {r["ip"]: r["tier"] for r in store.finding_rows()} == {
        "198.18.0.10": "possible", "198.18.0.11": "confirmed", "198.18.0.12": None}
    assert [s["tier"] for s in store.history("198.18.0.10")["sightings"]] == ["possible"]
    assert [r["ip"] for r in store.finding_rows(tier=["confirmed", "possible"])] == ["198.18.0.10", "198.18.0.11"]

    # the next scan's verdict replaces the tier, also with "no tier"
    run_scan(store, [flagged_hikvision("198.18.0.10", "c0:56:e3:00:00:10", tier="probable"),
                     flagged_hikvision("198.18.0.11", "c0:56:e3:00:00:11")])
    assert {a["ip"]: a["tier"] for a in store.assets()}["198.18.0.10"] == "probable"
    assert {a["ip"]: a["tier"] for a in store.assets()}["198.18.0.11"] is None
    assert [s["tier"] for s in store.history("198.18.0.10")["sightings"]] == ["possible", "probable"]


def test_possible_findings_do_not_count_for_the_exit_code(store, flagged_hikvision, run_scan):
    run_scan(store, [flagged_hikvision("198.18.0.10", "c0:56:e3:00:00:10", tier="possible")])
    assert len(store.finding_rows()) == 1 and store.open_flagged_count("hq") == 0
    run_scan(store, [flagged_hikvision("198.18.0.11", "c0:56:e3:00:00:11", tier="probable")])
    assert store.open_flagged_count("hq") == 1
    run_scan(store, [flagged_hikvision("198.18.0.12", "c0:56:e3:00:00:12")])   # no tier: counts
    assert store.open_flagged_count("hq") == 2


def test_rematch_grades_stored_devices(store):
    ip, mac = "198.18.0.41", "02:00:00:00:00:41"
    obs = [Observation(source="arp", ip=ip, mac=mac),
           Observation(source="http", ip=ip, mac=mac, port=80,
                       data={"path": "/", "status": 200, "headers": {"Server": "App-webs/"}})]
    blank = build_set([], load_vocabulary(), load_layers())
    sid = store.begin_scan(COVERED, "hq", list(load_policies()), "test", "none")
    store.add_observations(sid, obs)
    store.record_identifications(sid, identify(obs, blank), COVERED)
    store.finish_scan(sid)
    assert store.assets()[0]["tier"] is None
    store.rematch(identify)
    assert store.assets()[0]["tier"] == "probable"
    assert {r["tier"] for r in store.finding_rows()} == {"probable"}


def test_migration_from_the_schema_before_tiers_fills_them(db_url: str):
    engine = create_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0001")
        conn.execute(text(
            "INSERT INTO scans (id, targets, covered, policies, started_at, status, observation_count,"
            " device_count, flagged_count, new_assets, findings_opened, findings_reopened)"
            " VALUES (1, '[]', '[]', '[]', :t, 'complete', 0, 2, 1, 2, 1, 0)"), {"t": datetime(2026, 11, 1)})
        for asset_id, vendor, flagged in ((1, "Hikvision", True), (2, None, False)):
            conn.execute(text(
                "INSERT INTO assets (id, identity, ip, vendor, flagged, confidence, evidence, first_seen,"
                " last_seen, first_scan_id, last_scan_id, missed_scans)"
                " VALUES (:id, :identity, :ip, :vendor, :flagged, 0.9, '[]', :t, :t, 1, 1, 0)"),
                {"id": asset_id, "identity": f"ip::198.18.0.{asset_id}", "ip": f"198.18.0.{asset_id}",
                 "vendor": vendor, "flagged": flagged, "t": datetime(2026, 11, 1)})
            conn.execute(text(
                "INSERT INTO sightings (scan_id, asset_id, seen_at, vendor, flagged, policies, confidence)"
                " VALUES (1, :id, :t, :vendor, :flagged, '[]', 0.9)"),
                {"id": asset_id, "vendor": vendor, "flagged": flagged, "t": datetime(2026, 11, 1)})
        conn.execute(text("INSERT INTO policies (id, title) VALUES ('us-ndaa-889', 'NDAA')"))
        conn.execute(text(
            "INSERT INTO findings (asset_id, policy_id, status, suppressed_fingerprints, opened_at,"
            " status_changed_at, last_seen) VALUES (1, 'us-ndaa-889', 'open', '[]', :t, :t, :t)"),
            {"t": datetime(2026, 11, 1)})
    engine.dispose()

    with Store(db_url, clock=lambda: datetime(2026, 11, 2, tzinfo=timezone.utc)) as store:
        assert {a["ip"]: a["tier"] for a in store.assets()} == {"198.18.0.1": "probable", "198.18.0.2": None}
        assert [s["tier"] for s in store.history("198.18.0.1")["sightings"]] == ["probable"]
        assert [r["tier"] for r in store.finding_rows()] == ["probable"]
        assert store.open_flagged_count() == 1      # as before the migration: still counts
        with store.db.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()


def cli(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--db", url, "--config", "/dev/null"])
    return result.exit_code, result.output


def test_findings_command_shows_and_filters_by_tier(tmp_path: Path, flagged_hikvision, run_scan):
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    with Store(url) as store:
        run_scan(store, [flagged_hikvision("198.18.0.10", "c0:56:e3:00:00:10", tier="possible"),
                         flagged_hikvision("198.18.0.11", "c0:56:e3:00:00:11", tier="probable"),
                         flagged_hikvision("198.18.0.12", "c0:56:e3:00:00:12", tier="confirmed")])
    code, out = cli(url, "findings")
    assert code == 0 and "TIER" in out.splitlines()[0]
    # alike but for their tier, the surer one comes first in the removal priority
    assert [line.split()[2:3] for line in out.splitlines()[1:]] == [["198.18.0.12"], ["198.18.0.11"], ["198.18.0.10"]]
    assert "possible" in out and "confirmed" in out

    code, out = cli(url, "findings", "--tier", "possible", "--json")
    assert code == 0 and [(r["ip"], r["tier"]) for r in json.loads(out)] == [("198.18.0.10", "possible")]
    code, out = cli(url, "findings", "--tier", "confirmed,Probable", "--json")
    assert [r["ip"] for r in json.loads(out)] == ["198.18.0.12", "198.18.0.11"]
    code, out = cli(url, "findings", "--tier", "possible", "--tier", "confirmed", "--json")
    assert [r["ip"] for r in json.loads(out)] == ["198.18.0.12", "198.18.0.10"]

    code, out = cli(url, "assets")
    assert code == 0 and "TIER" in out.splitlines()[0] and "probable" in out
    code, out = cli(url, "findings", "--tier", "certain")
    assert code == ExitCode.USAGE and "unknown tier 'certain'; one of confirmed, probable, possible" in out


def test_report_command_exit_code_ignores_possible_findings(tmp_path: Path, flagged_hikvision, run_scan):
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    with Store(url) as store:
        run_scan(store, [flagged_hikvision("198.18.0.10", "c0:56:e3:00:00:10", tier="possible")])
    code, out = cli(url, "report")
    assert code == ExitCode.CLEAN and "to review (possible)" in out
    with Store(url) as store:
        run_scan(store, [flagged_hikvision("198.18.0.11", "c0:56:e3:00:00:11", tier="confirmed")])
    assert cli(url, "report")[0] == ExitCode.FLAGGED
    assert cli(url, "report", "--tier", "possible")[0] == ExitCode.CLEAN

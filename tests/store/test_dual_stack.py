"""One device, one asset: a dual-stack device is one asset with its IPv4 address and its IPv6
addresses, on SQLite and PostgreSQL, whichever family a scan saw it on."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from alembic import command
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from camaudit.cli import main
from camaudit.db import migrate
from camaudit.db.store import Store
from camaudit.exitcodes import ExitCode
from camaudit.identify import identify
from camaudit.observation import Observation
from camaudit.register_csv import parse_register

HIK_MAC = "c0:56:e3:00:00:20"
V4, V6 = "198.18.0.20", "fdca:a0d1:0:1::20"
LINK_LOCAL = "fe80::c256:e3ff:fe00:20%veth-ca-cam20"    # EUI-64 of HIK_MAC, with a zone: 39 characters
COVERED = ("198.18.0.0/24", "fdca:a0d1:0:1::/64")
SERIAL = {"serial": "DS-2CD2032-I20190101AAWR7", "vendor": "Hikvision"}


def scan(store: Store, run_scan, idents) -> int:
    return run_scan(store, idents, covered=COVERED)


def test_dual_stack_device_is_one_asset_with_both_addresses(store, run_scan, flagged_hikvision) -> None:
    sid = scan(store, run_scan, [flagged_hikvision(V4, HIK_MAC, ipv6=[V6, LINK_LOCAL])])
    [asset] = store.assets()
    assert (asset["ip"], asset["ipv6"], asset["mac"]) == (V4, [V6, LINK_LOCAL], HIK_MAC)
    [sighting] = store.history(V4)["sightings"]
    assert (sighting["scan_id"], sighting["ip"], sighting["ipv6"]) == (sid, V4, [V6, LINK_LOCAL])
    # named by any of its addresses
    assert store.history(V6)["asset"]["asset_id"] == store.history(LINK_LOCAL)["asset"]["asset_id"] == asset["asset_id"]
    [row] = store.device_rows()
    assert (row["ip"], row["ipv6"]) == (V4, [V6, LINK_LOCAL])


def test_a_scan_over_ipv6_only_updates_the_same_asset_and_diff_sees_no_change(
        store, run_scan, flagged_hikvision) -> None:
    scan(store, run_scan, [flagged_hikvision(V4, HIK_MAC)])
    # identify names a device seen only over IPv6 by its first IPv6 address
    scan(store, run_scan, [flagged_hikvision(V6, HIK_MAC, ipv6=[V6])])
    [asset] = store.assets()
    assert (asset["ip"], asset["ipv6"], asset["missed_scans"]) == (V4, [V6], 0)
    delta = store.diff()
    assert (delta["new"], delta["gone"], delta["changed"]) == ([], [], [])
    scan(store, run_scan, [flagged_hikvision(V4, HIK_MAC, ipv6=[V6])])
    assert len(store.assets()) == 1
    assert (store.diff()["new"], store.diff()["gone"], store.diff()["changed"]) == ([], [], [])


def test_macless_ipv6_only_device_joins_the_asset_of_its_serial(store, run_scan, flagged_hikvision) -> None:
    scan(store, run_scan, [flagged_hikvision(V4, HIK_MAC, **SERIAL)])
    scan(store, run_scan, [flagged_hikvision(V6, None, ipv6=[V6], **SERIAL)])
    [asset] = store.assets()
    assert (asset["ip"], asset["ipv6"], asset["mac"]) == (V4, [V6], HIK_MAC)
    assert store.diff()["new"] == [] and store.diff()["gone"] == []


def test_both_families_of_a_macless_device_in_one_scan_are_one_asset(store, run_scan, flagged_hikvision) -> None:
    """Its IPv4 and IPv6 answers could not be grouped (no MAC), but carry one serial."""
    scan(store, run_scan, [flagged_hikvision(V4, None, **SERIAL), flagged_hikvision(V6, None, ipv6=[V6], **SERIAL)])
    [asset] = store.assets()
    assert (asset["ip"], asset["ipv6"]) == (V4, [V6])
    [sighting] = store.history(V6)["sightings"]
    assert (sighting["ip"], sighting["ipv6"]) == (V4, [V6])


def test_ipv6_only_asset_is_missed_by_scans_covering_its_address(store, run_scan, flagged_hikvision) -> None:
    scan(store, run_scan, [flagged_hikvision(V6, None, ipv6=[V6])])
    for _ in range(2):
        scan(store, run_scan, [])
    [asset] = store.assets()
    assert (asset["ip"], asset["ipv6"], asset["missed_scans"]) == (None, [V6], 2)
    assert store.finding_rows()[0]["not_seen_since"] is not None


def test_register_entry_found_by_an_ipv6_address(store, run_scan, flagged_hikvision) -> None:
    scan(store, run_scan, [flagged_hikvision(V4, None, ipv6=[V6])])
    store.load_register(parse_register("IP address,Room\n198.18.0.99,Lobby\nFDCA:A0D1:0:1:0:0:0:20,B-7\n"), "reg.csv")
    [row] = store.device_rows()
    assert row["location"] == "B-7"
    assert store.register_entry(None, V6)["location"] == "B-7"
    assert store.register_gaps(lambda mac, vendor: None)["unregistered"] == []


def test_migration_moves_ipv6_addresses_out_of_the_ipv4_column(db_url: str, run_scan, flagged_hikvision) -> None:
    """An inventory written before 0005 kept an IPv6-only device's address in `ip`."""
    t = datetime(2026, 11, 1)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0004")
        scan_id = conn.execute(text(
            "INSERT INTO scans (site, targets, covered, policies, started_at, status, observation_count,"
            " device_count, flagged_count, new_assets, findings_opened, findings_reopened)"
            " VALUES ('hq', '[]', '[]', '[]', :t, 'complete', 0, 3, 0, 3, 0, 0) RETURNING id"), {"t": t}).scalar_one()
        for ip in (V6, V4, "::ffff:198.18.0.21"):
            asset_id = conn.execute(text(
                "INSERT INTO assets (identity, site, ip, flagged, confidence, evidence, first_seen,"
                " last_seen, first_scan_id, last_scan_id, missed_scans)"
                " VALUES (:identity, 'hq', :ip, false, 0.0, '[]', :t, :t, :scan, :scan, 0) RETURNING id"),
                {"identity": f"ip:hq:{ip}", "ip": ip, "t": t, "scan": scan_id}).scalar_one()
            conn.execute(text(
                "INSERT INTO sightings (scan_id, asset_id, seen_at, ip, flagged, policies, confidence)"
                " VALUES (:scan, :id, :t, :ip, false, '[]', 0.0)"),
                {"scan": scan_id, "id": asset_id, "ip": ip, "t": t})
    engine.dispose()
    with Store(db_url) as store:
        assert [(a["ip"], a["ipv6"]) for a in store.assets()] == [(None, [V6]), (V4, []), ("198.18.0.21", [])]
        assert [(s["ip"], s["ipv6"]) for s in store.history(V6)["sightings"]] == [(None, [V6])]
        # the next scan seeing the MAC-less IPv6-only device finds the asset by its identity
        run_scan(store, [flagged_hikvision(V6, None, ipv6=[V6])], covered=COVERED)
        assert len(store.assets()) == 3
        assert store.diff()["new"] == []
        with store.db.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()


def test_ingest_of_a_dual_stack_and_a_routed_eui64_observation_is_one_asset(db_url: str, tmp_path: Path) -> None:
    """The scan's ARP line has the MAC; a routed IPv6 answer carries none, but its EUI-64
    interface identifier names it: one asset with both addresses."""
    routed = "2001:db8:5:0:c256:e3ff:fe00:20"
    obs = [Observation(source="arp", ip=V4, mac=HIK_MAC),
           Observation(source="http", ip=routed, port=80,
                       data={"path": "/", "status": 200, "headers": {"Server": "DNVRS-Webs"}})]
    f = tmp_path / "dual.jsonl"
    f.write_text("".join(json.dumps(o.to_dict()) + "\n" for o in obs))
    result = CliRunner().invoke(main, ["ingest", str(f), "--site", "hq", "--db", db_url, "--config", "/dev/null"])
    assert result.exit_code == ExitCode.FLAGGED, result.output
    with Store(db_url) as store:
        [asset] = store.assets()
        assert (asset["ip"], asset["ipv6"], asset["mac"], asset["vendor"]) == (V4, [routed], HIK_MAC, "Hikvision")
        # rematch finds the MAC-less routed observation through the asset's IPv6 address
        store.rematch(identify)
        [row] = store.device_rows()
        assert {e["source"] for e in row["evidence"]} == {"http", "mac"}


def test_cli_lists_both_families_and_diff_reports_no_family_change(db_url: str, run_scan, flagged_hikvision) -> None:
    with Store(db_url) as store:
        scan(store, run_scan, [flagged_hikvision(V4, HIK_MAC)])
        scan(store, run_scan, [flagged_hikvision(V6, HIK_MAC, ipv6=[V6, LINK_LOCAL])])

    def cli(*args: str) -> str:
        result = CliRunner().invoke(main, [*args, "--db", db_url, "--config", "/dev/null"])
        assert result.exit_code == 0, result.output
        return result.output

    assert f"{V4}  {V6}, {LINK_LOCAL}  {HIK_MAC}" in cli("assets")
    assert f"{V4}  {V6}, {LINK_LOCAL}  {HIK_MAC}" in cli("findings")
    assert cli("diff").splitlines() == ["scan 1 → scan 2: 0 new, 0 gone, 0 changed"]


def test_hostile_address_lists_are_bounded_and_cannot_fail_a_device() -> None:
    """Addresses come from the network (observation files, other tools' identifications)."""
    from camaudit.db.device import MAX_IPV6, clean
    from camaudit.identify import Identification

    many = [f"2001:db8::{n:x}" for n in range(100)]
    device = clean(Identification(ip=V4, mac=None, ipv6=[*many, "nonsense", 7, None, "fe80::1%" + "x" * 5000,
                                                       "FE80::1%eth0", "::ffff:198.18.0.9"]))
    assert device.ip == V4 and len(device.ipv6) == MAX_IPV6 and device.ipv6[0] == "2001:db8::"
    assert all(len(a) <= 64 for a in device.ipv6)
    assert clean(Identification(ip=V4, mac=None, ipv6=12)).ipv6 is None         # not a list: ignored
    long_zone = "fe80::1%" + "x" * 100
    assert clean(Identification(ip=long_zone, mac=None)).ip == long_zone[:44] + "…"   # not an address
    only = clean(Identification(ip="FE80::1%eth0", mac=None, ipv6=["fe80::1%eth0"]))
    assert (only.ip, only.ipv6, only.address) == (None, ["fe80::1%eth0"], "fe80::1%eth0")


def test_observation_at_a_long_spelt_link_local_address_is_stored_and_rematched(store) -> None:
    """53 characters as a tool may spell it (uncompressed, with its zone): past the column's 45."""
    spelt = "fe80:0000:0000:0000:c256:e3ff:fe00:0020%veth-ca-cam20"
    obs = [Observation(source="http", ip=spelt, port=80,
                       data={"path": "/", "status": 200, "headers": {"Server": "DNVRS-Webs"}})]
    sid = store.begin_scan(["fe80::/64"], "hq", ["us-ndaa-889"], "test", "fp")
    assert store.add_observations(sid, obs) == 1
    store.record_identifications(sid, identify(obs), ["fe80::/64"])
    store.finish_scan(sid)
    [asset] = store.assets()
    assert (asset["mac"], asset["ipv6"]) == (HIK_MAC, ["fe80::c256:e3ff:fe00:20%veth-ca-cam20"])
    assert store.rematch(identify).assets == 1     # its observation found through the address


def test_macless_privacy_address_side_of_a_device_seen_with_its_mac_is_one_asset_from_the_first_scan(
        store, run_scan, flagged_hikvision) -> None:
    """Over IPv4 on the segment with its MAC; over IPv6 from a temporary address (no MAC, no
    EUI-64), identify could not group them, but they carry one vendor and serial."""
    privacy = "fdca:a0d1:0:1:a8c1:27d4:9b3e:10f2"
    scan(store, run_scan, [flagged_hikvision(V4, HIK_MAC, **SERIAL), flagged_hikvision(privacy, None, ipv6=[privacy], **SERIAL),
                           flagged_hikvision("198.18.0.21", "c0:56:e3:00:00:21", serial="other", vendor="Hikvision")])
    assert sorted((a["ip"], tuple(a["ipv6"]), a["mac"]) for a in store.assets()) == [
        (V4, (privacy,), HIK_MAC), ("198.18.0.21", (), "c0:56:e3:00:00:21")]
    scan(store, run_scan, [flagged_hikvision(privacy, None, ipv6=[privacy], **SERIAL)])
    assert len(store.assets()) == 2 and store.diff()["new"] == []


def test_a_serial_several_macs_carry_folds_nothing(store, run_scan, flagged_hikvision) -> None:
    scan(store, run_scan, [flagged_hikvision(V4, HIK_MAC, **SERIAL), flagged_hikvision("198.18.0.21", "c0:56:e3:00:00:21", **SERIAL),
                           flagged_hikvision(V6, None, ipv6=[V6], **SERIAL)])
    assert len(store.assets()) == 3

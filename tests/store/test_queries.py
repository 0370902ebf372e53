"""Query contracts the reports and the CLI rely on: finding_rows, scan_series, summary, diff."""

from __future__ import annotations

from datetime import timedelta

import pytest

from camaudit.db.lifecycle import Change
from camaudit.db.store import StoreError

FINDING_KEYS = {"finding_id", "asset_id", "site", "ip", "ipv6", "mac", "vendor", "brand", "model",
                "firmware", "serial", "device_type", "policy_id", "policy_title",
                "policy_citation", "confidence", "tier", "evidence_summary", "evidence", "status",
                "owner", "due", "note", "first_seen", "last_seen", "days_open", "last_scan_id",
                "not_seen_since"}
SERIES_KEYS = {"scan_id", "site", "started_at", "finished_at", "status", "open", "in_progress",
               "remediated", "risk_accepted", "false_positive", "flagged_assets"}


class Policy:
    id, title, citation = "us-ndaa-889", "NDAA FY2019 §889", "Pub. L. 115-232, §889(a)(1)(B)"


def test_finding_rows_columns_and_filters(store, flagged_hikvision, identification, run_scan, clock):
    sid = store.begin_scan(["198.18.0.0/24"], "hq", [Policy()], "1.0", "fp-1")
    store.record_identifications(sid, [
        flagged_hikvision(ip="198.18.0.10", mac="c0:56:e3:00:00:10"),
        identification(ip="198.18.0.11", mac="3c:ef:8c:00:00:11", vendor="Dahua", brand="Amcrest", flagged=True,
              policies=["us-ndaa-889"]),
        identification(ip="198.18.0.12", mac="00:40:8c:00:00:12", vendor="Axis", brand="Axis", flagged=False, policies=[]),
    ], ["198.18.0.0/24"])
    store.finish_scan(sid)
    rows = store.finding_rows()
    assert [set(r) for r in rows] == [FINDING_KEYS, FINDING_KEYS]
    # findings are numbered in MAC order: the Amcrest (3c:ef:…) comes first
    amcrest, hik = rows
    assert (amcrest["vendor"], hik["vendor"]) == ("Dahua", "Hikvision")
    assert (hik["policy_title"], hik["policy_citation"]) == (Policy.title, Policy.citation)
    assert hik["evidence_summary"] == "sadp:37020 DeviceType=DS-2CD2032-I"
    assert hik["evidence"][0]["fingerprint"] == "hikvision-sadp-devicetype"
    assert [r["vendor"] for r in store.finding_rows(vendor="dahua")] == ["Dahua"]
    assert store.finding_rows(site="branch") == []
    assert store.finding_rows(policy="other") == []
    assert len(store.finding_rows(status=["open", "in_progress"])) == 2
    clock.advance(days=10)
    store.remediate([hik["finding_id"]], Change(to="remediated", actor="a"))
    clock.advance(days=5)
    rows = {r["finding_id"]: r for r in store.finding_rows()}
    assert rows[hik["finding_id"]]["days_open"] == 10       # stops when resolved
    assert rows[amcrest["finding_id"]]["days_open"] == 15
    # activity = last seen by a scan or a status change (the remediation 5 days ago)
    assert store.finding_rows(since=clock.now - timedelta(days=4)) == []
    assert [r["finding_id"] for r in store.finding_rows(since=clock.now - timedelta(days=6))] == [
        hik["finding_id"]]
    assert len(store.finding_rows(since=clock.now - timedelta(days=16))) == 2


def test_scan_series_counts_as_of_each_scan_end(store, flagged_hikvision, run_scan):
    a = flagged_hikvision(ip="198.18.0.10", mac="c0:56:e3:00:00:10")
    b = flagged_hikvision(ip="198.18.0.11", mac="c0:56:e3:00:00:11")
    s1 = run_scan(store, [a, b])
    store.remediate(store.resolve("A1"), Change(to="in_progress", actor="x"))
    s2 = run_scan(store, [a, b])
    store.remediate(store.resolve("A1"), Change(to="remediated", actor="x"))
    store.remediate(store.resolve("A2"), Change(to="false_positive", actor="x", note="decoy"))
    s3 = run_scan(store, [])
    run_scan(store, [a], site="branch")
    series = store.scan_series(site="hq")
    assert [set(r) for r in series] == [SERIES_KEYS] * 3
    counts = [(r["scan_id"], r["open"], r["in_progress"], r["remediated"], r["false_positive"],
               r["flagged_assets"]) for r in series]
    assert counts == [(s1, 2, 0, 0, 0, 2), (s2, 1, 1, 0, 0, 2), (s3, 0, 0, 1, 1, 0)]
    assert len(store.scan_series()) == 4


def test_summary_counts(store, flagged_hikvision, identification, run_scan):
    run_scan(store, [flagged_hikvision(ip="198.18.0.10", mac="c0:56:e3:00:00:10"),
                     identification(ip="198.18.0.11", mac="3c:ef:8c:00:00:11", vendor="Dahua", brand="Dahua",
                           flagged=True, policies=["us-ndaa-889"])])
    s = store.summary()
    assert (s["assets"], s["scans"], s["findings"]) == (2, 1, 2)
    assert s["by_status"]["open"] == 2
    assert s["by_vendor"] == {"Dahua": {"open": 1}, "Hikvision": {"open": 1}}
    assert s["by_site"] == {"hq": {"open": 2}}


def test_diff_reports_new_gone_and_changed(store, flagged_hikvision, identification, run_scan):
    keep = flagged_hikvision(ip="198.18.0.10", mac="c0:56:e3:00:00:10")
    gone = flagged_hikvision(ip="198.18.0.11", mac="c0:56:e3:00:00:11")
    s1 = run_scan(store, [keep, gone])
    moved = flagged_hikvision(ip="198.18.0.10", mac="c0:56:e3:00:00:10", vendor="Dahua")  # only the vendor
    new = identification(ip="198.18.0.12", mac="c0:56:e3:00:00:12", vendor="Hikvision", brand="Hikvision", flagged=False,
                policies=[])
    run_scan(store, [], status="interrupted")           # ignored by the default pair
    s2 = run_scan(store, [moved, new])
    d = store.diff()
    assert (d["scan_a"], d["scan_b"]) == (s1, s2)
    assert [x["mac"] for x in d["new"]] == [new.mac]
    assert [x["mac"] for x in d["gone"]] == [gone.mac]
    assert [(x["mac"], x["changes"]) for x in d["changed"]] == [
        (keep.mac, {"vendor": {"from": "Hikvision", "to": "Dahua"}})]
    assert store.diff(s2, s1)["new"][0]["mac"] == gone.mac
    with pytest.raises(StoreError, match="no scan 99"):
        store.diff(s1, 99)


def test_diff_needs_two_complete_scans(store, flagged_hikvision, run_scan):
    run_scan(store, [])
    with pytest.raises(StoreError, match="two complete scans"):
        store.diff()


def test_many_devices_in_several_batches(store, identification, run_scan):
    """More devices than one write batch: every device stored once, counts exact."""
    devices = [identification(ip=f"198.18.{i // 250}.{i % 250 + 1}", mac=f"c0:56:e3:00:{i // 256:02x}:{i % 256:02x}",
                     vendor="Hikvision", brand="Hikvision", flagged=i % 3 == 0,
                     policies=["us-ndaa-889"] if i % 3 == 0 else [])
               for i in range(1200)]
    sid = run_scan(store, devices, covered=("198.18.0.0/16",))
    assert len(store.assets()) == 1200
    assert len(store.finding_rows()) == 400
    scan = store.scans()[0]
    assert (scan["scan_id"], scan["devices"], scan["flagged"], scan["new_assets"],
            scan["findings_opened"]) == (sid, 1200, 400, 1200, 400)
    run_scan(store, devices, covered=("198.18.0.0/16",))
    assert store.scans()[0]["new_assets"] == 0 and len(store.assets()) == 1200


def test_diff_ignores_values_a_scan_did_not_learn(store, flagged_hikvision, run_scan):
    run_scan(store, [flagged_hikvision(ip="198.18.0.10", mac="c0:56:e3:00:00:10", firmware=None)])
    run_scan(store, [flagged_hikvision(ip="198.18.0.10", mac="c0:56:e3:00:00:10", firmware="V5.7.3")])
    run_scan(store, [flagged_hikvision(ip="198.18.0.10", mac="c0:56:e3:00:00:10", firmware=None)])
    assert store.diff(1, 2)["changed"] == [] and store.diff(2, 3)["changed"] == []
    assert store.assets()[0]["firmware"] == "V5.7.3"     # the asset keeps what it learnt


def test_finding_stream_counts_first_and_reads_once(store, flagged_hikvision, run_scan):
    """Exports read findings as a stream: its length before the rows, the rows of finding_rows."""
    run_scan(store, [flagged_hikvision(ip=f"198.18.0.{n}", mac=f"c0:56:e3:00:00:{n:02x}",
                           policies=["us-ndaa-889", "eu-critical"]) for n in range(10, 17)])
    expected = store.finding_rows()
    with store.finding_stream() as rows:
        assert len(rows) == len(expected) == 14
        assert list(rows) == expected
        with pytest.raises(StoreError, match="read once"):
            iter(rows)
    with store.finding_stream(site="branch") as rows:
        assert (len(rows), list(rows)) == (0, [])
    # one asset's two findings carry the same evidence (read once for both)
    first, second = expected[0], expected[1]
    assert first["asset_id"] == second["asset_id"] and first["evidence"] == second["evidence"]

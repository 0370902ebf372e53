"""The remediation list by device on real SQLite and PostgreSQL: one row per flagged device,
its policies in one cell, and `remediate D7` moving all of a device's findings together."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from camaudit.cli import main
from camaudit.db.errors import StoreError
from camaudit.db.lifecycle import Change

POLICIES = ["au-commonwealth-2023", "ca-hikvision-2025", "uk-gov-2022", "us-fcc-2022", "us-ndaa-889"]
HIK_MAC, DAHUA_MAC = "c0:56:e3:00:00:10", "3c:ef:8c:00:00:11"


@pytest.fixture
def inventory(store, flagged_hikvision, identification):
    """A camera flagged by five policies, a Dahua by one, an Axis by none."""
    sid = store.begin_scan(["198.18.0.0/24"], "hq", POLICIES, "1.0", "fp-1")
    store.record_identifications(sid, [
        flagged_hikvision(ip="198.18.0.10", mac=HIK_MAC, policies=POLICIES, tier="confirmed"),
        identification(ip="198.18.0.11", mac=DAHUA_MAC, vendor="Dahua", brand="Amcrest", flagged=True,
                       policies=["us-ndaa-889"], tier="probable"),
        identification(ip="198.18.0.12", mac="00:40:8c:00:00:12", vendor="Axis", brand="Axis",
                       flagged=False, policies=[]),
    ], ["198.18.0.0/24"])
    store.finish_scan(sid)
    return store


def by_mac(rows):
    return {row["mac"]: row for row in rows}


def test_one_row_per_flagged_device_with_its_policies_and_tier(inventory):
    rows = inventory.device_rows()
    assert len(rows) == 2 and len(inventory.finding_rows()) == 6
    hik = by_mac(rows)[HIK_MAC]
    assert hik["policies"] == POLICIES and hik["tier"] == "confirmed"
    assert (hik["status"], hik["status_detail"], hik["vendor"], hik["ip"]) == ("open", None, "Hikvision", "198.18.0.10")
    assert [f["policy_id"] for f in hik["findings"]] == POLICIES
    # each policy's finding keeps its own trail: the opening event
    assert all([e["to"] for e in f["history"]] == ["open"] for f in hik["findings"])
    assert by_mac(rows)[DAHUA_MAC]["policies"] == ["us-ndaa-889"]
    # filters select findings: a device shows with the ones that match
    [only] = inventory.device_rows(policy="uk-gov-2022")
    assert (only["mac"], only["policies"]) == (HIK_MAC, ["uk-gov-2022"])
    assert [r["mac"] for r in inventory.device_rows(tier=["probable"])] == [DAHUA_MAC]


def test_mixed_statuses_show_the_least_advanced_and_say_mixed(inventory, clock):
    hik = by_mac(inventory.device_rows())[HIK_MAC]
    first, second = hik["finding_ids"][:2]
    clock.advance(days=3)
    inventory.remediate([first], Change(to="remediated", actor="alice", owner="facilities",
                                        due=None, note="removed"))
    inventory.remediate([second], Change(to="in_progress", actor="alice", owner="it-ops"))
    clock.advance(days=2)
    hik = by_mac(inventory.device_rows())[HIK_MAC]
    assert hik["status"] == "open"
    assert hik["status_detail"] == "mixed: open 3, in_progress 1, remediated 1"
    assert hik["owner"] == "facilities, it-ops"
    assert hik["days_open"] == 5      # the oldest unresolved finding, not the remediated one
    assert [e["to"] for e in hik["findings"][0]["history"]] == ["open", "remediated"]


def test_remediate_a_device_moves_all_its_findings_and_keeps_each_trail(inventory):
    hik = by_mac(inventory.device_rows())[HIK_MAC]
    ids = inventory.resolve(f"D{hik['asset_id']}")
    assert ids == hik["finding_ids"]
    events = inventory.remediate(ids, Change(to="in_progress", actor="bob", owner="facilities",
                                             note="ticket 7"))
    assert len(events) == len(POLICIES)
    hik = by_mac(inventory.device_rows())[HIK_MAC]
    assert (hik["status"], hik["status_detail"], hik["owner"]) == ("in_progress", None, "facilities")
    for finding in hik["findings"]:
        assert [(e["from"], e["to"], e["actor"]) for e in finding["history"]] == [
            (None, "open", finding["history"][0]["actor"]), ("open", "in_progress", "bob")]
    assert by_mac(inventory.device_rows())[DAHUA_MAC]["status"] == "open"   # untouched
    with pytest.raises(StoreError, match="D7 or A7"):
        inventory.resolve("X7")


def test_cli_lists_devices_and_remediates_by_device_ref(inventory, db_url):
    def cli(*args):
        result = CliRunner().invoke(main, [*args, "--db", db_url, "--config", "/dev/null"])
        return result.exit_code, result.stdout, result.stderr

    inventory.close()
    code, out, _ = cli("findings")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("DEVICE") and len(lines) == 3
    hik_line = next(line for line in lines if "198.18.0.10" in line)
    ref = hik_line.split()[0]
    assert ref.startswith("D") and ", ".join(POLICIES)[:60] in hik_line
    code, out, _ = cli("findings", "--by-policy")
    assert code == 0 and out.splitlines()[0].startswith("FINDING") and len(out.splitlines()) == 7
    code, out, err = cli("remediate", ref, "--status", "remediated", "--note", "swapped for Axis",
                         "--actor", "carol")
    assert code == 0, err
    assert len(out.splitlines()) == len(POLICIES)
    code, out, _ = cli("findings", "--json")
    hik = by_mac(json.loads(out))[HIK_MAC]
    assert hik["status"] == "remediated" and len(hik["findings"]) == len(POLICIES)
    assert all(f["history"][-1]["actor"] == "carol" for f in hik["findings"])


def test_streamed_device_export_reads_trails_batch_by_batch(inventory, monkeypatch, tmp_path):
    """Trails are read while the device rows' cursor is open, a batch of devices at a time:
    with one device per batch every device still gets its own findings' events, on both backends."""
    from camaudit.db import devices_view
    from camaudit.report.service import export_findings

    monkeypatch.setattr(devices_view, "HISTORY_BATCH", 1)
    inventory.remediate(inventory.resolve(DAHUA_MAC), Change(to="in_progress", actor="dora"))
    out = tmp_path / "devices.json"
    assert export_findings(inventory, "json", out).rows == 2
    doc = json.loads(out.read_text("utf-8"))
    assert doc["layout"] == "by_device" and doc["count"] == 2
    devices = by_mac(doc["devices"])
    assert [e["actor"] for e in devices[DAHUA_MAC]["findings"][0]["history"]][-1] == "dora"
    assert all(len(f["history"]) == 1 for f in devices[HIK_MAC]["findings"])
    assert {f["finding_id"] for d in doc["devices"] for f in d["findings"]} == {
        r["finding_id"] for r in inventory.finding_rows()}

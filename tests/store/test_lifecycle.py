"""Remediation lifecycle through the store, on SQLite and PostgreSQL (same assertions)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

import camaudit.db.record
from camaudit.db.errors import NoSuchAsset, NoSuchFinding
from camaudit.db.lifecycle import (
    ALL_STATUSES,
    Change,
    Move,
    TransitionError,
    check,
    on_expiry,
    on_missed,
    on_rematch,
    on_seen,
)
from camaudit.db.store import Store, StoreError
from camaudit.cli.common import store_failure

MAC = "c0:56:e3:00:00:17"


def trail(store: Store, finding_id: int) -> list[tuple[str | None, str, str]]:
    return [(e["from"], e["to"], e["note"] or "") for e in store.events(finding_id)]


def test_device_walks_the_whole_lifecycle(store, flagged_hikvision, run_scan):
    cam = flagged_hikvision(ip="198.18.0.17", mac=MAC)
    s1 = run_scan(store, [cam])
    [row] = store.finding_rows()
    fid = row["finding_id"]
    assert (row["status"], row["last_scan_id"], row["not_seen_since"]) == ("open", s1, None)
    assert store.open_flagged_count() == 1

    store.remediate(store.resolve(MAC), Change(to="remediated", actor="alice", owner="facilities",
                                               note="unplugged and returned"))
    assert store.open_flagged_count() == 0

    s2 = run_scan(store, [])            # device gone: one miss is not yet "not seen"
    assert store.finding_rows()[0]["not_seen_since"] is None
    s3 = run_scan(store, [])
    row = store.finding_rows()[0]
    assert row["status"] == "remediated"
    assert row["not_seen_since"] is not None and row["last_scan_id"] == s1

    s4 = run_scan(store, [cam])         # back on the network
    row = store.finding_rows()[0]
    assert (row["status"], row["not_seen_since"], row["last_scan_id"]) == ("open", None, s4)
    assert store.open_flagged_count() == 1
    events = trail(store, fid)
    assert [(f, t) for f, t, _ in events] == [(None, "open"), ("open", "remediated"),
                                              ("remediated", "remediated"), ("remediated", "open")]
    assert f"first flagged in scan {s1}" in events[0][2]
    assert "unplugged and returned" in events[1][2] and "owner facilities" in events[1][2]
    assert "not seen since" in events[2][2] and "198.18.0.17" in events[2][2]
    assert events[3][2] == f"seen again in scan {s4}"
    assert [e["scan_id"] for e in store.events(fid)] == [s1, None, s3, s4]
    assert s2 < s3


def test_not_seen_counts_only_complete_scans_of_the_site_covering_the_address(store, flagged_hikvision, run_scan):
    run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC)])
    run_scan(store, [], covered=("198.18.1.0/24",))          # does not cover the address
    run_scan(store, [], status="interrupted")                # incomplete: proves nothing
    run_scan(store, [], site="branch")                       # another site's 198.18.0.0/24
    assert store.assets()[0]["missed_scans"] == 0
    run_scan(store, [], covered=("198.18.0.17",))
    run_scan(store, [], covered=("198.18.0.0/16",))
    assert store.assets()[0]["missed_scans"] == 2
    assert store.finding_rows()[0]["not_seen_since"] is not None


def test_dhcp_readdress_updates_the_asset(store, flagged_hikvision, run_scan):
    run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC)])
    run_scan(store, [flagged_hikvision(ip="198.18.0.99", mac=MAC.upper().replace(":", "-"), firmware="V5.5.0")])
    [asset] = store.assets()
    assert (asset["ip"], asset["firmware"], asset["mac"]) == ("198.18.0.99", "V5.5.0", MAC)
    assert len(store.finding_rows()) == 1
    changed = store.diff()["changed"]
    assert changed[0]["changes"] == {"ip": {"from": "198.18.0.17", "to": "198.18.0.99"},
                                     "firmware": {"from": "V5.4.5", "to": "V5.5.0"}}


def test_unlabelled_asset_takes_the_site_of_the_first_labelled_scan(store, flagged_hikvision, run_scan):
    """Cron at site hq must exit 1 for a flagged camera first stored by an unlabelled scan."""
    run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC)], site=None)
    assert store.assets()[0]["site"] is None
    run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC)], site="hq")
    [asset] = store.assets()
    assert asset["site"] == "hq"
    assert store.open_flagged_count("hq") == 1
    assert store.open_flagged_count("branch") == 0


def test_routed_device_keeps_identity_by_serial(store, flagged_hikvision, run_scan):
    run_scan(store, [flagged_hikvision(ip="198.18.1.20", serial="DS-2CD2032-I20200101AAWR123")],
             covered=("198.18.1.0/24",))
    run_scan(store, [flagged_hikvision(ip="198.18.1.21", serial="DS-2CD2032-I20200101AAWR123")],
             covered=("198.18.1.0/24",))
    assert [a["ip"] for a in store.assets()] == ["198.18.1.21"]


def test_ip_only_devices_are_per_site(store, flagged_hikvision, run_scan):
    run_scan(store, [flagged_hikvision(ip="10.0.0.5")], site="hq", covered=("10.0.0.0/24",))
    run_scan(store, [flagged_hikvision(ip="10.0.0.5")], site="branch", covered=("10.0.0.0/24",))
    assert sorted(a["site"] for a in store.assets()) == ["branch", "hq"]
    assert store.open_flagged_count(site="hq") == 1


def test_risk_acceptance_expires_and_reopens(store, flagged_hikvision, run_scan, clock):
    run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC)])
    [fid] = store.resolve(MAC)
    until = clock.now.date() + timedelta(days=30)
    store.remediate([fid], Change(to="risk_accepted", actor="ciso", note="replacement budgeted",
                                  expires=until))
    run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC)])
    assert store.finding_rows()[0]["status"] == "risk_accepted"
    clock.advance(days=31)
    assert store.expire_risk_acceptances() == 1
    assert store.finding_rows()[0]["status"] == "open"
    assert trail(store, fid)[-1] == ("risk_accepted", "open", f"risk acceptance expired on {until}")


def test_false_positive_survives_rescans_until_new_evidence(store, flagged_hikvision, run_scan):
    cam = flagged_hikvision(ip="198.18.0.17", mac=MAC)
    run_scan(store, [cam])
    [fid] = store.resolve("A1")
    store.remediate([fid], Change(to="false_positive", actor="bob", note="Axis camera, OUI resold"))
    run_scan(store, [cam])
    run_scan(store, [cam])
    assert store.finding_rows()[0]["status"] == "false_positive"
    assert store.open_flagged_count() == 0
    cam.evidence = cam.evidence + [{"source": "http", "port": 80, "fingerprint": "hikvision-isapi",
                                    "field": "path", "value": "/ISAPI/", "weight": 0.8,
                                    "vendor": "Hikvision"}]
    s = run_scan(store, [cam])
    assert store.finding_rows()[0]["status"] == "open"
    assert "hikvision-isapi" in trail(store, fid)[-1][2] and f"scan {s}" in trail(store, fid)[-1][2]


@pytest.mark.parametrize("current,change,reason", [
    ("open", Change(to="false_positive", actor="x"), "needs_note"),
    ("open", Change(to="risk_accepted", actor="x", note="n"), "needs_expires"),
    ("open", Change(to="risk_accepted", actor="x", expires=date(2020, 1, 1)), "expires_not_future"),
    ("open", Change(to="in_progress", actor="x", expires=date(2099, 1, 1)), "expires_without_risk"),
    ("remediated", Change(to="risk_accepted", actor="x", expires=date(2099, 1, 1)), "not_allowed"),
    ("open", Change(to="fixed", actor="x"), "unknown_status"),
])
def test_refused_transitions_change_nothing(store, flagged_hikvision, run_scan, current, change, reason):
    run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC)])
    if current != "open":
        store.remediate([1], Change(to=current, actor="setup"))
    before = trail(store, 1)
    with pytest.raises(TransitionError) as refused:
        store.remediate([1], change)
    assert (refused.value.reason, refused.value.finding_id) == (reason, 1)
    assert (refused.value.current, refused.value.to) == (current, change.to)
    assert trail(store, 1) == before


def test_remediate_an_asset_changes_all_its_findings(store, flagged_hikvision, run_scan):
    run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC, policies=["us-ndaa-889", "uk-pss"])])
    ids = store.resolve("198.18.0.17")
    assert len(ids) == 2
    store.remediate(ids, Change(to="in_progress", actor="alice", owner="it-ops",
                                due=date(2027, 1, 31), note="ticket 42"))
    rows = store.finding_rows(status=["in_progress"])
    assert [(r["owner"], r["due"], r["note"]) for r in rows] == [("it-ops", "2027-01-31", "ticket 42")] * 2
    assert store.open_flagged_count() == 1   # in progress is still present


def test_unknown_references_say_what_to_do(store, flagged_hikvision, run_scan):
    run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC)])
    with pytest.raises(NoSuchFinding) as caught:    # the CLI words what to do with it
        store.resolve("F99")
    assert caught.value.finding_id == 99
    with pytest.raises(NoSuchAsset) as unknown:
        store.resolve("198.18.0.200")
    assert (unknown.value.ref, unknown.value.site) == ("198.18.0.200", None)
    assert store_failure(unknown.value)[0].endswith("list them with `camaudit assets`")
    with pytest.raises(StoreError, match="not a finding id"):
        store.resolve("camera-17")


def test_device_seen_by_mac_then_by_serial_only_stays_one_asset(store, flagged_hikvision, run_scan):
    """Local segment (MAC + serial), then behind a router (serial only), then local again."""
    serial = "DS-2CD2032-I20200101AAWR123"
    run_scan(store, [flagged_hikvision(ip="198.18.0.20", mac=MAC, serial=serial)])
    run_scan(store, [flagged_hikvision(ip="198.18.1.20", serial=serial)], covered=("198.18.1.0/24",))
    run_scan(store, [flagged_hikvision(ip="198.18.0.21", mac=MAC, serial=serial)])
    assert [(a["ip"], a["mac"]) for a in store.assets()] == [("198.18.0.21", MAC)]
    other = "c0:56:e3:00:00:99"          # same serial, another MAC: a different device
    run_scan(store, [flagged_hikvision(ip="198.18.0.22", mac=other, serial=serial)])
    assert len(store.assets()) == 2


def test_serial_first_then_mac_keeps_the_asset(store, flagged_hikvision, run_scan):
    serial = "DS-2CD2032-I20200101AAWR123"
    run_scan(store, [flagged_hikvision(ip="198.18.1.20", serial=serial)], covered=("198.18.1.0/24",))
    run_scan(store, [flagged_hikvision(ip="198.18.0.20", mac=MAC, serial=serial)])
    [asset] = store.assets()
    assert (asset["mac"], asset["ip"], asset["identity"]) == (MAC, "198.18.0.20",
                                                             f"serial:hikvision:{serial}")
    run_scan(store, [flagged_hikvision(ip="198.18.0.23", mac=MAC)])      # serial not learnt this time
    assert len(store.assets()) == 1


def test_a_finished_scan_takes_no_more_results(store, flagged_hikvision, run_scan):
    sid = run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC)])
    with pytest.raises(StoreError, match="already finished"):
        store.record_identifications(sid, [flagged_hikvision(ip="198.18.0.18", mac=MAC)], ["198.18.0.0/24"])
    with pytest.raises(StoreError, match="already finished"):
        store.finish_scan(sid, "complete")
    assert store.assets()[0]["ip"] == "198.18.0.17"


def test_hostile_device_text_is_stored_clean_and_bounded(store, flagged_hikvision, run_scan):
    """Device answers are untrusted: NUL bytes (PostgreSQL refuses them) and huge strings."""
    run_scan(store, [flagged_hikvision(ip="198.18.0.66", mac=MAC, model="X" * 5000, firmware="V5\x00.4",
                           serial="S" * 900, vendor="Hik\x00vision" + "v" * 500,
                           evidence=[{"source": "http", "port": 80, "fingerprint": "f",
                                      "field": "http.title", "value": "\x00" + "T" * 10_000,
                                      "weight": 0.9, "vendor": "Hikvision"}])])
    [asset] = store.assets()
    assert (len(asset["model"]), asset["firmware"], len(asset["serial"])) == (200, "V5.4", 200)
    [row] = store.finding_rows()
    assert row["evidence"][0]["value"] == "T" * 1000
    run_scan(store, [flagged_hikvision(ip="198.18.0.67", serial="S" * 900, vendor="Hik\x00vision" + "v" * 500)])
    assert len(store.assets()) == 1     # the serial matched after cleaning, as stored


def test_a_serial_many_devices_share_keeps_them_apart(store, flagged_hikvision, run_scan, monkeypatch):
    """A serial burnt into a whole model line: each MAC stays its own asset across batches and
    scans, and a routed (MAC-less) device with that serial joins the oldest of them."""
    chunks = camaudit.db.record.chunks
    monkeypatch.setattr(camaudit.db.record, "chunks", lambda seq, size: chunks(seq, 4))    # several batches
    shared = "DS-2CD2032-I20200101AAWR000"
    fleet = [flagged_hikvision(ip=f"198.18.0.{n}", mac=f"c0:56:e3:00:01:{n:02x}", serial=shared)
             for n in range(10, 21)]
    run_scan(store, fleet)
    run_scan(store, list(reversed(fleet)))
    assert len(store.assets()) == len(fleet)
    run_scan(store, [flagged_hikvision(ip="198.18.1.40", serial=shared)], covered=("198.18.1.0/24",))
    assets = store.assets()
    assert len(assets) == len(fleet)
    assert (assets[0]["mac"], assets[0]["ip"]) == (fleet[0].mac, "198.18.1.40")


# ---------------------------------------------------------------- the automatic moves, pure

DAY = date(2026, 11, 3)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_every_automatic_move_is_one_the_manual_table_allows(status):
    """One state machine: no automatic move goes where `remediate` could not."""
    moves = [on_seen(status, seen_by="scan 2", not_seen_since=DAY, fingerprints={"new"},
                     suppressed=()),
             on_missed(status, misses=2, threshold=2, last_seen=DAY, ip="198.18.0.17"),
             on_expiry(status, expires=DAY, today=DAY),
             on_rematch(status, policy="p", evaluated=None, flagged_under=(), label="rematch")]
    for move in filter(None, moves):
        if move.to != status:
            check(status, Change(move.to, "t", note="n", expires=DAY + timedelta(days=1)
                                 if move.to == "risk_accepted" else None), DAY)


def test_on_seen_reopens_a_remediated_device():
    move = on_seen("remediated", seen_by="scan 4", not_seen_since=None, fingerprints=set(),
                   suppressed=())
    assert move == Move("open", "seen again in scan 4")


def test_on_seen_reopens_a_false_positive_only_on_evidence_its_verdict_did_not_cover():
    assert on_seen("false_positive", seen_by="scan 4", not_seen_since=None,
                   fingerprints={"a"}, suppressed=["a", "b"]) is None
    move = on_seen("false_positive", seen_by="scan 4", not_seen_since=None,
                   fingerprints={"a", "c", "d"}, suppressed=["a"])
    assert move == Move("open", "new evidence in scan 4 not covered by the false-positive "
                                "verdict: c, d")


def test_on_seen_keeps_the_status_and_says_a_device_not_seen_since_is_back():
    move = on_seen("in_progress", seen_by="scan 5", not_seen_since=DAY, fingerprints=set(),
                   suppressed=())
    assert move == Move("in_progress", "seen again in scan 5 after not seen since 2026-11-03")
    assert on_seen("open", seen_by="scan 5", not_seen_since=None, fingerprints=set(),
                   suppressed=()) is None


def test_on_missed_marks_watched_findings_from_the_threshold_on():
    assert on_missed("open", misses=1, threshold=2, last_seen=DAY, ip="198.18.0.17") is None
    move = on_missed("remediated", misses=2, threshold=2, last_seen=DAY, ip="198.18.0.17")
    assert move == Move("remediated", "not seen since 2026-11-03: missed by 2 complete scans "
                                      "covering 198.18.0.17 (evidence, not proof, of removal)")
    assert on_missed("false_positive", misses=5, threshold=2, last_seen=DAY, ip="x") is None


def test_on_expiry_reopens_a_risk_acceptance_on_its_day_not_before():
    assert on_expiry("risk_accepted", expires=DAY, today=DAY - timedelta(days=1)) is None
    assert on_expiry("risk_accepted", expires=DAY, today=DAY) == Move(
        "open", "risk acceptance expired on 2026-11-03")
    assert on_expiry("open", expires=DAY, today=DAY) is None


def test_on_rematch_clears_only_active_findings_of_a_judged_policy_no_longer_flagged():
    clear = Move("false_positive", "no longer flagged under p after rematch")
    assert on_rematch("open", policy="p", evaluated=None, flagged_under=(), label="rematch") == clear
    assert on_rematch("in_progress", policy="p", evaluated={"p"}, flagged_under=("q",),
                      label="rematch") == clear
    assert on_rematch("open", policy="p", evaluated={"q"}, flagged_under=(), label="rematch") is None
    assert on_rematch("open", policy="p", evaluated=None, flagged_under=("p",), label="rematch") is None
    assert on_rematch("remediated", policy="p", evaluated=None, flagged_under=(), label="rematch") is None

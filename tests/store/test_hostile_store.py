"""Hostile text and references at the store: a device the database refuses, values longer
than their columns, ids beyond the id range. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from camaudit.db.errors import NoSuchFinding, TextTooLong
from camaudit.db.lifecycle import Change
from camaudit.db.models import TRUNCATED, Asset, Finding, Scan
from camaudit.db.store import Store


def test_a_device_the_database_refuses_costs_only_itself(store: Store, flagged_hikvision) -> None:
    idents = [flagged_hikvision(ip=f"198.18.0.{n}", mac=f"c0:56:e3:00:00:{n:02x}") for n in range(10, 20)]
    idents[4].model = "DS-\ud800"      # a lone surrogate: no UTF-8 encoding exists for it
    sid = store.begin_scan(["198.18.0.0/24"], "hq", ["us-ndaa-889"], "test", "fp")
    summary = store.record_identifications(sid, idents, ["198.18.0.0/24"])
    store.finish_scan(sid, "complete")

    assert sorted(a["ip"] for a in store.assets()) == sorted(
        i.ip for i in idents if i.ip != "198.18.0.14")
    [failure] = summary.failures
    assert (failure.ip, failure.mac) == ("198.18.0.14", "c0:56:e3:00:00:0e")
    assert "198.18.0.14" in str(failure) and "not stored" in str(failure)
    [scan] = store.scans()
    assert (scan["status"], scan["devices"], scan["flagged"]) == ("complete", 9, 9)
    assert summary.devices == 9 and len(store.finding_rows()) == 9


def test_several_refused_devices_of_one_batch_are_each_named(store: Store, flagged_hikvision, run_scan) -> None:
    idents = [flagged_hikvision(ip=f"198.18.0.{n}", mac=f"c0:56:e3:00:00:{n:02x}") for n in range(20, 30)]
    for n in (0, 1, 9):                 # neighbours and both ends of the batch
        idents[n].firmware = "V\udfff"
    sid = store.begin_scan(["198.18.0.0/24"], "hq", ["us-ndaa-889"], "test", "fp")
    summary = store.record_identifications(sid, idents, ["198.18.0.0/24"])
    assert sorted(f.ip for f in summary.failures) == ["198.18.0.20", "198.18.0.21", "198.18.0.29"]
    assert len(store.assets()) == 7 and summary.devices == 7
    assert store.scans()[0]["devices"] == 7


def test_device_text_longer_than_its_column_is_cut_with_a_marker(store: Store, flagged_hikvision, run_scan) -> None:
    limit = Asset.__table__.c.model.type.length
    run_scan(store, [flagged_hikvision(ip="198.18.0.9", mac="c0:56:e3:00:00:09", model="M" * (limit + 50))])
    [asset] = store.assets()
    assert len(asset["model"]) == limit and asset["model"].endswith(TRUNCATED)
    assert asset["model"].startswith("M" * (limit - len(TRUNCATED)))


@pytest.mark.parametrize("field", ["owner", "note", "actor"])
def test_typed_remediation_text_longer_than_its_column_is_refused(store: Store, flagged_hikvision, run_scan,
                                                                   field: str) -> None:
    run_scan(store, [flagged_hikvision(ip="198.18.0.9", mac="c0:56:e3:00:00:09")])
    [fid] = store.resolve("F1")
    limit = {"owner": 200, "note": 4000, "actor": 200}[field]
    values = {"actor": "alice", field: "x" * (limit + 1)}
    with pytest.raises(TextTooLong) as caught:
        store.remediate([fid], Change(to="in_progress", **values))
    assert (caught.value.field, caught.value.limit, caught.value.length) == (field, limit, limit + 1)
    assert store.events(fid)[-1]["to"] == "open"           # nothing written
    values[field] = "x" * limit                              # exactly the maximum is kept whole
    store.remediate([fid], Change(to="in_progress", **values))
    with store.engine.connect() as conn:
        row = conn.execute(select(Finding.__table__)).one()
    if field != "actor":
        assert getattr(row, field) == "x" * limit


def test_a_typed_site_longer_than_its_column_is_refused_before_any_row(store: Store) -> None:
    with pytest.raises(TextTooLong) as caught:
        store.begin_scan(["198.18.0.0/24"], "s" * 201, [], "test", "fp")
    assert (caught.value.field, caught.value.limit) == ("site", 200)
    with store.engine.connect() as conn:
        assert conn.execute(select(Scan.__table__)).all() == []


def test_program_text_longer_than_its_column_is_cut(store: Store) -> None:
    sid = store.begin_scan([], "hq", [], "v" * 80, "f" * 300)
    [scan] = store.scans()
    assert scan["scan_id"] == sid
    assert len(scan["tool_version"]) == 50 and scan["tool_version"].endswith(TRUNCATED)
    assert len(scan["fingerprint_version"]) == 100


@pytest.mark.parametrize("ref", ["F3000000000", "99999999999999999999999", "F99999999999999999999999"])
def test_a_finding_id_beyond_the_id_range_names_no_finding(store: Store, ref: str) -> None:
    with pytest.raises(NoSuchFinding):
        store.resolve(ref)


def test_an_asset_id_beyond_the_id_range_names_no_asset(store: Store) -> None:
    from camaudit.db.store import StoreError

    with pytest.raises(StoreError, match="no asset"):
        store.history("A99999999999999999999999")


def test_an_event_text_composed_past_its_maximum_is_cut(store: Store, flagged_hikvision, run_scan) -> None:
    """A note at its maximum is kept whole on the finding; the event adds the owner to it, and
    that composed text is cut to the event column's maximum with the marker."""
    run_scan(store, [flagged_hikvision(ip="198.18.0.9", mac="c0:56:e3:00:00:09")])
    limit = Finding.__table__.c.note.info["max_chars"]
    store.remediate([1], Change(to="in_progress", actor="alice", owner="it-ops", note="n" * limit))
    assert store.finding_rows()[0]["note"] == "n" * limit
    event = store.events(1)[-1]
    assert len(event["note"]) == limit and event["note"].endswith(TRUNCATED)

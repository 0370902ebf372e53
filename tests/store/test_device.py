"""The one definition of an identification's fields on the db side (db/device.py), pure."""

from __future__ import annotations

from dataclasses import fields

from camaudit.db.device import ASSET_FIELDS, SIGHTING_FIELDS, Device, IdentificationLike, clean
from camaudit.db.models import Asset, Sighting
from camaudit.identify import Identification


def _members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if isinstance(vars(protocol)[name], property)}


def test_device_the_protocol_and_the_producer_name_the_same_fields():
    """A field added to one of them and not the others fails here, not in a scan."""
    declared = _members(IdentificationLike)
    assert {f.name for f in fields(Device)} == declared
    assert declared <= {f.name for f in fields(Identification)}


def test_asset_and_sighting_rows_take_the_device_fields_their_tables_have():
    assert set(ASSET_FIELDS) == {f.name for f in fields(Device)} & set(Asset.__table__.c.keys())
    assert set(SIGHTING_FIELDS) == {f.name for f in fields(Device)} & set(Sighting.__table__.c.keys())
    assert "policies" not in ASSET_FIELDS and "evidence" not in SIGHTING_FIELDS


def test_clean_reads_an_identification_as_identify_produces_it():
    ident = Identification(ip=" 198.18.0.17 ", mac="C0-56-E3-00-00-17", vendor="Hik\x00vision",
                           model="M" * 300, flagged=True, policies=["p", "q", "p"], confidence=0.9,
                           evidence=[{"source": "http", "value": "\x00" + "v" * 2000}, "not a dict"])
    device = clean(ident)
    assert (device.ip, device.mac, device.vendor) == ("198.18.0.17", "c0:56:e3:00:00:17", "Hikvision")
    assert len(device.model) == 200 and device.model.endswith("…")
    assert device.policies == ("p", "q")
    assert device.evidence == [{"source": "http", "value": "v" * 1000}]

"""Matcher as `camaudit match` streams it: lazy identifications, shared signals, collector pause."""

from __future__ import annotations

import gc
import io
import json

import pytest

from camaudit.match_stream import collector_paused, write_identifications
from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.identify import Matcher, identify
from camaudit.observation import Observation
from camaudit.policy import load_policies


def device_info(n: int, serial: str) -> Observation:
    # bodies equal in their first 200 characters (what evidence keeps), different serials after
    body = (f'<DeviceInfo version="2.0"><deviceName>{"CAMERA " * 40}</deviceName><model>DS-2CD2043G2-I</model>'
            f"<serialNumber>{serial}</serialNumber><firmwareVersion>V5.7.3</firmwareVersion></DeviceInfo>")
    return Observation(source="http", ip=f"198.18.0.{n}", mac=f"c0:56:e3:00:00:{n:02x}", port=80,
                       data={"path": "/ISAPI/System/deviceInfo", "status": 200, "body": body})


def test_devices_sharing_signals_keep_their_own_captures(fset: FingerprintSet) -> None:
    observations = [device_info(n, f"SERIAL{n:04d}") for n in range(1, 4)] * 2
    idents = identify(observations, fset, load_policies())
    assert [(i.mac, i.serial, i.model) for i in idents] == [
        (f"c0:56:e3:00:00:{n:02x}", f"SERIAL{n:04d}", "DS-2CD2043G2-I") for n in range(1, 4)]
    assert all(i.vendor == "Hikvision" and len(i.evidence) == 2 for i in idents)  # body + OUI, once each


def test_identifications_are_concluded_as_they_are_read(fset: FingerprintSet) -> None:
    matcher = Matcher(fset, load_policies())
    for obs in [device_info(1, "A1"), Observation(source="arp", ip="198.18.0.1"),
                Observation(source="arp", ip="198.18.0.99")]:
        matcher.add(obs)
    stream = matcher.identifications()
    first = next(stream)
    assert (first.mac, first.ip, first.statuses) == ("c0:56:e3:00:00:01", "198.18.0.1", {"arp": "ok", "http:80": "ok"})
    assert [(i.mac, i.ip) for i in stream] == [(None, "198.18.0.99")]   # IP-only device that no MAC claimed


def test_write_identifications_counts_and_reports_flagged(fset: FingerprintSet) -> None:
    matcher = Matcher(fset, load_policies())
    matcher.add(device_info(1, "A1"))
    matcher.add(Observation(source="arp", ip="198.18.0.50", mac="00:00:5e:00:53:01"))
    out = io.StringIO()
    assert write_identifications(matcher, out) == (2, True)
    assert [json.loads(line)["flagged"] for line in out.getvalue().splitlines()] == [True, False]


def test_collector_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(SystemExit), collector_paused():
        raise SystemExit(1)                     # `camaudit match` exits from inside
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()               # it was off before: it stays off
    finally:
        gc.enable()

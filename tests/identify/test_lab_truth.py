"""Against the simulated lab: a real scan of every shipped persona identifies to its truth.

The scan is the engine's own (`camaudit.engine.run_scan` inside the lab's scanner namespace);
identify() then runs on its observations. Every device's vendor and flagged status must
equal `lab.truth()`, decoys and hostile devices included; relabelled devices show brand ≠
vendor; and `camaudit match` on the same observations written as JSON Lines gives the same
identifications as the live run.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from click.testing import CliRunner

from camaudit.cli import main
from camaudit.engine import ScanOutcome, ScanPlan
from camaudit.engine import scan as engine_scan
from camaudit.identify import identify
from camaudit.lab.topology import LAB_SNMP_COMMUNITY, LAB_SNMP_USERS
from camaudit.observation import write_jsonl
from camaudit.probes.snmp_usm import parse_users
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

SEGMENTS = ["198.18.0.0/24", "198.18.1.0/24"]


@pytest.fixture(scope="module")
def scanned(lab: Any) -> tuple[list[dict[str, Any]], ScanOutcome]:
    targets = build_targets(SEGMENTS)
    with lab.in_scanner_ns():
        outcome = engine_scan(ScanPlan(targets=targets, snmp_communities=(LAB_SNMP_COMMUNITY,),
                                       snmp_users=tuple(parse_users(LAB_SNMP_USERS))))
    return lab.truth(), outcome


def _by_ip(idents: list[Any]) -> dict[str, Any]:
    return {i.ip: i for i in idents}


def test_every_persona_identifies_to_its_truth(scanned: tuple[list[dict[str, Any]], ScanOutcome], fset) -> None:
    truth, outcome = scanned
    found = _by_ip(identify(outcome.observations, fset))
    wrong = []
    for device in truth:
        ident = found.get(device["ip"])
        got = (ident.vendor, ident.flagged) if ident else (None, False)
        if got != (device["vendor"], device["flagged"]):
            wrong.append(f"{device['persona']} {device['ip']}: got vendor={got[0]} flagged={got[1]}, "
                         f"truth vendor={device['vendor']} flagged={device['flagged']}"
                         + (f"; evidence {[e['fingerprint'] for e in ident.evidence]}" if ident else "; not seen"))
    assert not wrong, "\n".join(wrong)
    assert sum(d["flagged"] for d in truth) >= 8 and sum(not d["flagged"] for d in truth) >= 8


def test_relabelled_devices_show_their_brand(scanned: tuple[list[dict[str, Any]], ScanOutcome], fset) -> None:
    truth, outcome = scanned
    found = _by_ip(identify(outcome.observations, fset))
    relabels = [d for d in truth if d["brand"] and d["vendor"] and d["brand"] != d["vendor"]
                and d["vendor"] in ("Hikvision", "Dahua")]
    assert {d["persona"] for d in relabels} >= {"lts-camera", "ezviz-camera", "amcrest-camera", "lorex-nvr"}
    for d in relabels:
        ident = found[d["ip"]]
        assert (ident.vendor, ident.brand) == (d["vendor"], d["brand"]), d["persona"]


def test_match_on_recorded_observations_equals_the_live_identification(
        scanned: tuple[list[dict[str, Any]], ScanOutcome], fset, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    _, outcome = scanned
    monkeypatch.setenv("CAMAUDIT_DATA_DIR", str(tmp_path))   # same OUI layers as `fset`
    live = sorted(i.to_json() for i in identify(outcome.observations, fset))
    buffer = io.StringIO()
    write_jsonl(outcome.observations, buffer)
    res = CliRunner().invoke(main, ["match", "-"], input=buffer.getvalue())
    assert res.exit_code == 1, res.stderr   # flagged devices are in the lab
    assert sorted(res.stdout.splitlines()) == live
    assert len(live) == len({json.loads(line)["ip"] for line in live})


def test_mdns_only_devices_get_model_and_serial_from_their_announcements(
        scanned: tuple[list[dict[str, Any]], ScanOutcome], fset) -> None:
    """The Hikvision camera and the HP printer decoy answer nothing but mDNS: their model (and
    the camera's serial) can only come from the DNS-SD records the mdns sweep reads."""
    truth, outcome = scanned
    found = _by_ip(identify(outcome.observations, fset))
    for persona in ("hikvision-mdns", "printer-hp-mdns"):
        device = next(d for d in truth if d["persona"] == persona)
        ident = found[device["ip"]]
        assert (ident.vendor, ident.model, ident.serial, ident.flagged) == (
            device["vendor"], device["model"], device["serial"], device["flagged"]), persona
        assert any(e["source"] == "mdns" for e in ident.evidence), persona


# a persona of each new protocol's device class and the source that must name its vendor
NETWORK_GEAR_SIGNALS = (("huawei-firewall", "ssh"), ("zte-olt", "telnet"), ("huawei-ont", "upnp"),
                        ("hikvision-nvr-ssdp", "upnp"), ("zte-olt-snmp", "snmp"),
                        ("huawei-ar-router", "snmp"), ("hikvision-mdns", "mdns"))


def test_a_full_lab_scan_hears_every_protocol_and_each_names_its_device(
        scanned: tuple[list[dict[str, Any]], ScanOutcome], fset) -> None:
    """SSH, Telnet, UPnP, mDNS and SNMP (with the lab's community and v3 user) all answer in
    one scan of the whole lab, and each is what names the vendor of a device that shows
    itself through it."""
    truth, outcome = scanned
    answered = {o.source for o in outcome.observations if o.status == "ok"}
    assert {"ssh", "telnet", "upnp", "mdns", "snmp"} <= answered, sorted(answered)
    found = _by_ip(identify(outcome.observations, fset))
    for persona, source in NETWORK_GEAR_SIGNALS:
        device = next(d for d in truth if d["persona"] == persona)
        ident = found[device["ip"]]
        named = {e["source"] for e in ident.evidence if e.get("vendor") == device["vendor"]}
        assert source in named, f"{persona}: {source} did not name {device['vendor']} (evidence from {sorted(named)})"

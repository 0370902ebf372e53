"""The SNMP probe against the lab's SNMPv2c agents (pysnmp's codec on the device side).

One small lab holds the SNMP personas (a Huawei switch, a ZTE OLT with no TCP port, an H3C
decoy, three hostile agents) and one device without SNMP. Every scan here is the engine's
own, inside the lab's scanner namespace, so the packets are real and the capture is the
scanner's link.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from camaudit.engine import ScanOutcome, ScanPlan
from camaudit.fingerprints.loader import load_fingerprints
from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.engine import scan as engine_scan
from camaudit.identify import identify
from camaudit.lab.topology import LAB_SNMP_COMMUNITY
from camaudit.observation import ProbeStatus
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

SNMP_PERSONAS = ["huawei-switch", "zte-olt-snmp", "h3c-switch"]
HOSTILE = {"198.18.0.241": ProbeStatus.PROTOCOL_ERROR,   # absurd BER length
           "198.18.0.242": ProbeStatus.TOO_LARGE,        # 60,000-byte sysDescr
           "198.18.0.243": ProbeStatus.PROTOCOL_ERROR}   # endless OID arc
PERSONAS = SNMP_PERSONAS + ["hostile-snmp-length", "hostile-snmp-huge", "hostile-snmp-malformed",
                            "linux-nginx"]


@pytest.fixture(scope="module")
def snmp_lab() -> Iterator[Any]:
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces)")
    from camaudit.lab import Lab

    lab = Lab(f"snmp{os.getpid() % 100000}")
    try:
        lab.up(only=PERSONAS)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def fset(tmp_path_factory: pytest.TempPathFactory) -> FingerprintSet:
    return load_fingerprints(Path(tmp_path_factory.mktemp("no-user-oui")))


def run(lab: Any, communities: tuple[str, ...], probes: tuple[str, ...] | None = ("snmp",)) -> ScanOutcome:
    targets = build_targets(["198.18.0.0/24"])
    with lab.in_scanner_ns():
        return engine_scan(ScanPlan(targets=targets, snmp_communities=communities, probes=probes))


def snmp_of(outcome: ScanOutcome) -> dict[str, Any]:
    return {o.ip: o for o in outcome.observations if o.source == "snmp"}


def test_configured_community_gives_snmp_observations_that_identify_to_truth(snmp_lab: Any, fset) -> None:
    outcome = run(snmp_lab, (LAB_SNMP_COMMUNITY,), probes=None)
    truth = {d["ip"]: d for d in snmp_lab.truth()}
    seen = snmp_of(outcome)
    for ip in ("198.18.0.80", "198.18.0.81", "198.18.0.82"):
        assert seen[ip].status is ProbeStatus.OK, seen[ip].error
        assert seen[ip].data["sys_object_id"].startswith("1.3.6.1.4.1.")
        assert seen[ip].data["sys_descr"]
    assert seen["198.18.0.80"].data["ent_model_name"] == "S5720-52X-EI-AC"
    assert seen["198.18.0.80"].data["sys_object_id"] == "1.3.6.1.4.1.2011.2.23.306"
    # the ZTE OLT has no open TCP port: ARP found it, SNMP is all it said
    zte = [h for h in outcome.hosts if h.ip == "198.18.0.81"]
    assert zte and not zte[0].open_ports
    found = {i.ip: i for i in identify(outcome.observations, fset)}
    for ip in ("198.18.0.80", "198.18.0.81", "198.18.0.82"):
        ident = found[ip]
        assert (ident.vendor, ident.flagged) == (truth[ip]["vendor"], truth[ip]["flagged"]), ip
    evidence = {e["fingerprint"] for e in found["198.18.0.81"].evidence}
    assert "zte.snmp.enterprise" in evidence
    assert not any(e["fingerprint"].startswith("huawei.") for e in found["198.18.0.82"].evidence)
    # linux-nginx runs no agent: its kernel's ICMP port unreachable ends the probe at once
    assert seen["198.18.0.45"].status is ProbeStatus.REFUSED and "no SNMP agent" in seen["198.18.0.45"].error


def test_without_a_community_not_one_packet_goes_to_udp_161(snmp_lab: Any) -> None:
    with snmp_lab.capture("udp port 161") as cap:
        outcome = run(snmp_lab, ())
    assert not snmp_of(outcome)
    assert cap.packets() == []
    with snmp_lab.capture("udp port 161") as cap:  # the capture sees SNMP when there is some
        run(snmp_lab, (LAB_SNMP_COMMUNITY,))
    assert cap.packets()


def test_a_wrong_community_is_a_status_and_never_shown(snmp_lab: Any) -> None:
    secret = "wrong-community-7f3a"
    outcome = run(snmp_lab, (secret,))
    seen = snmp_of(outcome)
    for ip in ("198.18.0.80", "198.18.0.81", "198.18.0.82"):
        assert seen[ip].status is ProbeStatus.TIMEOUT
        assert "configured communit" in (seen[ip].error or "")
    text = repr(outcome.observations) + repr(outcome.warnings)
    assert secret not in text


def test_hostile_agents_are_bounded(snmp_lab: Any) -> None:
    tracemalloc.start()
    started = time.monotonic()
    outcome = run(snmp_lab, (LAB_SNMP_COMMUNITY,))
    seconds = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seen = snmp_of(outcome)
    for ip, status in HOSTILE.items():
        assert seen[ip].status is status, (ip, seen[ip].error)
        assert not seen[ip].data.get("sys_descr")
    assert seen["198.18.0.80"].status is ProbeStatus.OK  # the others' answers are not lost
    print(f"snmp scan of {len(outcome.hosts)} hosts incl. 3 hostile agents: {seconds:.2f} s, "
          f"Python heap peak {peak / 1024:.0f} KiB")

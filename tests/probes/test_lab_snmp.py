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
from camaudit.lab.topology import LAB_SNMP_AUTH_ONLY_USER, LAB_SNMP_COMMUNITY, LAB_SNMP_USERS
from camaudit.observation import ProbeStatus
from camaudit.probes.snmp_usm import SnmpUser, parse_users
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

SNMP_PERSONAS = ["huawei-switch", "zte-olt-snmp", "h3c-switch"]
HOSTILE = {"198.18.0.241": ProbeStatus.PROTOCOL_ERROR,   # absurd BER length
           "198.18.0.242": ProbeStatus.TOO_LARGE,        # 60,000-byte sysDescr
           "198.18.0.243": ProbeStatus.PROTOCOL_ERROR}   # endless OID arc
PERSONAS = SNMP_PERSONAS + ["hostile-snmp-length", "hostile-snmp-huge", "hostile-snmp-malformed",
                            "linux-nginx", "huawei-ar-router", "hostile-snmp-engine-churn",
                            "hostile-snmp-v3-length"]


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


def run(lab: Any, communities: tuple[str, ...], probes: tuple[str, ...] | None = ("snmp",),
        users: tuple[SnmpUser, ...] = (), targets: str = "198.18.0.0/24") -> ScanOutcome:
    with lab.in_scanner_ns():
        return engine_scan(ScanPlan(targets=build_targets([targets]), snmp_communities=communities,
                                    snmp_users=users, probes=probes))


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


def test_v3_users_give_snmp_observations_that_identify_to_truth(snmp_lab: Any, fset) -> None:
    """authPriv (SHA/AES) on the switch and the v3-only router, authNoPriv (SHA-256) on the
    router: pysnmp's USM on the device side accepts the scanner's messages and vice versa."""
    with snmp_lab.capture("udp port 161", snaplen=2048) as cap:
        outcome = run(snmp_lab, (), probes=None, users=tuple(parse_users(LAB_SNMP_USERS)))
    truth = {d["ip"]: d for d in snmp_lab.truth()}
    seen = snmp_of(outcome)
    for ip in ("198.18.0.80", "198.18.0.83"):
        assert seen[ip].status is ProbeStatus.OK, seen[ip].error
        assert seen[ip].data["version"] == "3"
    assert seen["198.18.0.80"].data["ent_model_name"] == "S5720-52X-EI-AC"
    assert seen["198.18.0.83"].data["sys_object_id"] == "1.3.6.1.4.1.2011.2.224.67"
    # the ZTE OLT speaks v2c only: like such agents it drops v3 messages
    assert seen["198.18.0.81"].status is ProbeStatus.TIMEOUT and "1 configured SNMPv3 user" in seen["198.18.0.81"].error
    found = {i.ip: i for i in identify(outcome.observations, fset)}
    ident = found["198.18.0.83"]
    assert (ident.vendor, ident.flagged) == (truth["198.18.0.83"]["vendor"], True)
    assert "huawei.snmp.vrp" in {e["fingerprint"] for e in ident.evidence}
    # authPriv: the sysDescr crossed the wire encrypted
    payloads = b"".join(bytes(p["UDP"].payload) for p in cap.packets() if p.haslayer("UDP"))
    assert payloads and b"Versatile Routing" not in payloads

    auth_only = run(snmp_lab, (), users=tuple(parse_users([LAB_SNMP_AUTH_ONLY_USER])), targets="198.18.0.83")
    router = snmp_of(auth_only)["198.18.0.83"]
    assert router.status is ProbeStatus.OK and router.data["sys_name"] == "AR2220-branch", router.error


def test_a_wrong_v3_passphrase_is_a_status_and_never_shown(snmp_lab: Any) -> None:
    secret = "wrong-passphrase-5e1d"
    user = dict(LAB_SNMP_USERS[0], auth_key=secret)
    outcome = run(snmp_lab, (), users=tuple(parse_users([user])), targets="198.18.0.80-83")
    seen = snmp_of(outcome)
    for ip in ("198.18.0.80", "198.18.0.83"):
        assert seen[ip].status is ProbeStatus.ERROR, seen[ip].error
        assert "wrong digest" in seen[ip].error and "auth_key" in seen[ip].error
    assert secret not in repr(outcome.observations) + repr(outcome.warnings)


def test_hostile_v3_agents_are_bounded(snmp_lab: Any) -> None:
    """An engine ID that changes with every message ends after MAX_DISCOVERIES discoveries;
    a Report with an absurd length is a protocol-error."""
    with snmp_lab.capture("udp port 161 and host 198.18.0.84") as cap:
        outcome = run(snmp_lab, (), users=tuple(parse_users(LAB_SNMP_USERS)), targets="198.18.0.84-85")
    seen = snmp_of(outcome)
    assert seen["198.18.0.84"].status is ProbeStatus.PROTOCOL_ERROR
    assert "engine ID changed" in seen["198.18.0.84"].error
    assert seen["198.18.0.85"].status is ProbeStatus.PROTOCOL_ERROR
    assert "exceeds" in seen["198.18.0.85"].error
    sent = [p for p in cap.packets() if p.haslayer("IP") and p["IP"].dst == "198.18.0.84"]
    assert 0 < len(sent) <= 4
    print(f"engine-churn agent: {len(sent)} requests before the scanner gave up")

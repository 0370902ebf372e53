"""Against the lab's IPv6 segments: a scan of named IPv6 prefixes identifies every IPv6-only
persona to its truth, finds on-link ones by neighbour solicitation (with their MAC) and the
routed one by TCP connect, and sends no IPv6 multicast but solicited-node solicitations."""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any

import pytest

from camaudit.engine import ScanOutcome, ScanPlan
from camaudit.engine import scan as engine_scan
from camaudit.identify import identify
from camaudit.lab.topology import LAB_SNMP_USERS
from camaudit.probes.snmp_usm import parse_users
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

PREFIXES = ["fdca:a0d1::/120", "fdca:a0d1:0:1::/120"]   # the IPv6-only personas live here
ROUTER = "fdca:a0d1::fffe"   # the next hop to fdca:a0d1:0:1::/64: the kernel solicits it to get there
EXCLUDED = "fdca:a0d1::83"


def scan(lab: Any, specs: list[str], excludes: tuple[str, ...] = ()) -> ScanOutcome:
    with lab.in_scanner_ns():
        return engine_scan(ScanPlan(targets=build_targets(specs, excludes=excludes),
                                    snmp_users=tuple(parse_users(LAB_SNMP_USERS))))


@pytest.fixture(scope="module")
def scanned(lab6: Any) -> tuple[list[dict[str, Any]], ScanOutcome, list[Any]]:
    with lab6.capture("ip6") as cap:
        outcome = scan(lab6, PREFIXES)
    return lab6.truth(), outcome, cap.packets()


def ipv6_only(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in truth if d["ipv6"] and d["ip"] == d["ipv6"]]


def test_every_ipv6_only_persona_identifies_to_its_truth(scanned, fset) -> None:
    truth, outcome, _ = scanned
    found = {i.ip: i for i in identify(outcome.observations, fset)}
    personas = ipv6_only(truth)
    assert len(personas) >= 2
    wrong = []
    for device in personas:
        ident = found.get(device["ipv6"])
        got = (ident.vendor, ident.flagged) if ident else (None, False)
        if got != (device["vendor"], device["flagged"]):
            wrong.append(f"{device['persona']} {device['ipv6']}: got {got}, truth {device['vendor']} {device['flagged']}")
    assert not wrong, "\n".join(wrong)


def test_on_link_ipv6_hosts_come_with_their_mac_and_routed_ones_without(scanned) -> None:
    truth, outcome, _ = scanned
    hosts = {h.ip: h for h in outcome.hosts}
    for device in ipv6_only(truth):
        host = hosts[device["ipv6"]]
        assert host.mac == (device["mac"] if device["segment"] == "local" else None), device["persona"]
    assert outcome.arp_used


def _mld_report(packet) -> bool:
    """An MLDv1 or MLDv2 listener report: ICMPv6 type 131 or 143, after any hop-by-hop header."""
    from scapy.layers.inet6 import ICMPv6MLReport, ICMPv6MLReport2

    return ICMPv6MLReport in packet or ICMPv6MLReport2 in packet


def test_only_solicited_node_solicitations_go_to_ipv6_multicast(scanned, lab6) -> None:
    from scapy.layers.inet6 import ICMPv6ND_NS, IPv6
    from scapy.layers.l2 import Ether

    _, _, packets = scanned
    mac = lab6.exec(["cat", "/sys/class/net/lab0/address"], capture_output=True, text=True).stdout.strip()
    sent = [p for p in packets if p[Ether].src == mac and IPv6 in p]
    # MLD reports (ICMPv6 types 131, 143) are the kernel's own, for the solicited-node groups of
    # the interface's addresses (docs/lab.md); camaudit opens no socket that joins a group
    multicast = [p for p in sent if ipaddress.IPv6Address(p[IPv6].dst).is_multicast and not _mld_report(p)]
    assert multicast, "the capture saw no solicitation at all"
    for p in multicast:
        assert ICMPv6ND_NS in p, p.summary()
        target = ipaddress.IPv6Address(p[ICMPv6ND_NS].tgt)
        assert target == ipaddress.IPv6Address(ROUTER) or any(
            target in ipaddress.IPv6Network(prefix) for prefix in PREFIXES), p.summary()
        assert p[IPv6].dst == str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("ff02::1:ff00:0")) | (int(target) & 0xFFFFFF)))


def test_an_excluded_ipv6_address_receives_no_packet(lab6) -> None:
    with lab6.capture("ip6") as cap:
        outcome = scan(lab6, PREFIXES[:1], excludes=(EXCLUDED,))
    assert EXCLUDED not in {h.ip for h in outcome.hosts}
    assert cap.involving(EXCLUDED) == []
    assert cap.involving("fdca:a0d1::10"), "positive control: the neighbour of the excluded one was solicited"


@pytest.fixture(scope="module")
def discovered(lab6: Any) -> tuple[ScanOutcome, list[Any]]:
    """--discover-ipv6 on lab0, naming only an empty corner of the segment."""
    with lab6.capture("ip6") as cap, lab6.in_scanner_ns():
        outcome = engine_scan(ScanPlan(targets=build_targets([UNUSED]), interface="lab0", discover_ipv6=True,
                                       snmp_users=tuple(parse_users(LAB_SNMP_USERS))))
    return outcome, cap.packets()


UNUSED = "fdca:a0d1::ff00/120"   # named so the scan has a target; no persona lives there


def test_discover_ipv6_finds_unnamed_on_link_personas_and_identifies_them(lab6, discovered, fset) -> None:
    outcome, _ = discovered
    found = {i.ip: i for i in identify(outcome.observations, fset)}
    on_link = [d for d in lab6.truth() if d["ipv6"] and d["segment"] == "local"]
    assert {d["persona"] for d in on_link} >= {"hikvision-camera-v6", "huawei-ar-router-v6"}
    for device in on_link:
        ident = found.get(device["ipv6"])
        assert ident is not None, f"{device['persona']} {device['ipv6']} not found"
        assert (ident.vendor, ident.flagged) == (device["vendor"], device["flagged"]), device["persona"]
    # link-local answers are kept with their zone
    hosts = {h.ip: h for h in outcome.hosts}
    hik = next(d for d in on_link if d["persona"] == "hikvision-camera-v6")
    link_local = [ip for ip, h in hosts.items() if ip.startswith("fe80:") and h.mac == hik["mac"]]
    assert link_local and all(ip.endswith("%lab0") for ip in link_local), sorted(hosts)
    # the routed segment is not on the link: nothing there is found without being named
    assert not [ip for ip in hosts if ip.startswith("fdca:a0d1:0:1:")]


def test_discover_ipv6_sends_exactly_the_documented_multicast(lab6, discovered) -> None:
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, IPv6
    from scapy.layers.l2 import Ether

    _, packets = discovered
    mac = lab6.exec(["cat", "/sys/class/net/lab0/address"], capture_output=True, text=True).stdout.strip()
    multicast = [p for p in packets if p[Ether].src == mac and IPv6 in p
                 and ipaddress.IPv6Address(p[IPv6].dst).is_multicast and ICMPv6ND_NS not in p]
    echoes = [p for p in multicast if ICMPv6EchoRequest in p]
    assert {p[IPv6].dst for p in echoes} == {"ff02::1"} and len(echoes) == 2   # from fe80:: and from fdca:a0d1::1
    udp = sorted((p[IPv6].dst, p[UDP].dport) for p in multicast if UDP in p)
    assert udp == [("ff02::c", 1900), ("ff02::c", 3702), ("ff02::fb", 5353)]
    assert len(multicast) == 5, [p.summary() for p in multicast]
    assert all(p[IPv6].hlim in (1, 255) for p in multicast)


def test_neighbour_cache_alone_reports_unnamed_neighbours_and_sends_them_nothing(lab6) -> None:
    hik = "fdca:a0d1::10"
    with lab6.in_scanner_ns():
        socket.create_connection((hik, 80), timeout=3).close()   # the kernel now knows its MAC
    with lab6.capture("ip6") as cap, lab6.in_scanner_ns():
        outcome = engine_scan(ScanPlan(targets=build_targets([UNUSED]), interface="lab0", neighbour_cache=True))
    assert [w for w in outcome.warnings if "IPv6 neighbours on lab0 are not among the targets" in w]
    assert hik not in {h.ip for h in outcome.hosts}
    assert not [p for p in cap.involving(hik)], "a neighbour from the cache is not a target"


def test_cli_scan_with_discover_ipv6(lab6) -> None:
    from click.testing import CliRunner

    from camaudit.cli import main

    with lab6.in_scanner_ns():
        res = CliRunner().invoke(main, ["scan", "--no-store", "--json", "--interface", "lab0",
                                        "--discover-ipv6", UNUSED])
    assert res.exit_code == 1, res.output   # flagged devices found
    devices = {d["ip"] for d in json.loads(res.stdout)["devices"]}
    assert "fdca:a0d1::10" in devices


def test_a_dual_stack_persona_scanned_on_both_families_is_one_asset_with_both_addresses(lab6, tmp_path) -> None:
    from click.testing import CliRunner

    from camaudit.cli import main
    from camaudit.db.store import Store

    dual = [d for d in lab6.truth() if d["ipv6"] and d["ip"] != d["ipv6"]]
    assert {d["persona"] for d in dual} == {"hikvision-nvr-dual", "axis-camera-dual"}
    url = f"sqlite:///{tmp_path / 'inventory.db'}"
    with lab6.in_scanner_ns():
        res = CliRunner().invoke(main, ["scan", "--db", url, "--quiet",
                                        *[a for d in dual for a in (d["ip"], d["ipv6"])]])
    assert res.exit_code == 1, res.output   # the Hikvision NVR is flagged
    store = Store(url)
    try:
        assets = {a["mac"]: a for a in store.assets()}
    finally:
        store.close()
    for device in dual:
        asset = assets[device["mac"]]
        assert (asset["ip"], asset["ipv6"]) == (device["ip"], [device["ipv6"]]), device["persona"]
    assert len(assets) == len(dual), "each dual-stack device is one asset, not one per family"

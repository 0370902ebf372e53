"""The lab's network: isolation (no default route, nothing leaves), L2 vs routed segments."""

from __future__ import annotations

import errno
import json
import shutil
import socket
import subprocess

import pytest

pytestmark = pytest.mark.lab

LAB_PREFIXES = {"198.18.0.0/24", "198.18.1.0/24"}
OUTSIDE = ["203.0.113.5", "198.51.100.1", "8.8.8.8"]


def routes(lab, *args: str) -> list[dict]:
    out = lab.exec(["ip", "-j", "-4", "route", "show", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_scanner_namespace_has_only_lab_routes_and_no_default(lab) -> None:
    table = routes(lab, "table", "all")
    assert not [r for r in table if r["dst"] == "default"], table
    unicast = {r["dst"] for r in table if r.get("type", "unicast") == "unicast" and r.get("table", "main") == "main"}
    assert unicast == LAB_PREFIXES
    # and the scanner's interface is the only one besides loopback
    links = json.loads(lab.exec(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout)
    assert sorted(link["ifname"] for link in links) == ["lab0", "lo"]


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed (make deps-runtime)")
def test_connecting_outside_the_lab_sends_nothing_on_the_lab_link(lab) -> None:
    with lab.capture() as cap:
        for address in OUTSIDE:
            with lab.in_scanner_ns():
                tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with tcp, udp:
                tcp.settimeout(2)
                with pytest.raises(OSError) as err:
                    tcp.connect((address, 80))
                assert err.value.errno == errno.ENETUNREACH
                with pytest.raises(OSError) as err:
                    udp.sendto(b"x", (address, 37020))
                assert err.value.errno == errno.ENETUNREACH
        # nmap (raw packets as root) refuses targets it has no route to
        scan = lab.exec(["nmap", "-n", "-Pn", "-p", "80,554", *OUTSIDE], capture_output=True, text=True, timeout=60)
        assert "failed to determine route" in scan.stderr and "0 IP addresses" in scan.stdout
        # positive control: the same capture does see traffic to a lab device
        with lab.in_scanner_ns():
            control = socket.create_connection(("198.18.0.10", 80), timeout=3)
        control.close()
    for address in OUTSIDE:
        assert cap.involving(address) == [], f"packets to {address} left the scanner"
    assert cap.involving("198.18.0.10"), "the capture saw nothing at all: it is not recording the lab link"


def _arp(lab, targets: list[str]) -> dict[str, str]:
    from scapy.layers.l2 import ARP, Ether
    from scapy.sendrecv import srp

    mac = json.loads(lab.exec(["ip", "-j", "link", "show", "lab0"], capture_output=True, text=True,
                              check=True).stdout)[0]["address"]
    with lab.in_scanner_ns():
        answered, _ = srp(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=mac, psrc="198.18.0.1", pdst=targets),
                          iface=lab.scanner_iface, timeout=1, verbose=False)
    return {reply[ARP].psrc: reply[ARP].hwsrc for _, reply in answered}


def test_arp_sees_local_personas_with_their_macs_but_not_the_routed_one(lab) -> None:
    truth = lab.truth()
    local = {d["ip"]: d["mac"] for d in truth if d["segment"] == "local"}
    routed = [d for d in truth if d["segment"] == "routed"]
    assert routed, "the shipped lab has a device on the routed segment"
    seen = _arp(lab, sorted(local) + [d["ip"] for d in routed])
    assert seen == local


def test_routed_device_is_reachable_through_the_router_mac(lab) -> None:
    routed = next(d for d in lab.truth() if d["segment"] == "routed")
    with lab.in_scanner_ns():
        conn = socket.create_connection((routed["ip"], 80), timeout=3)
    conn.close()
    neigh = json.loads(lab.exec(["ip", "-j", "neigh", "show", "dev", "lab0"], capture_output=True, text=True,
                                check=True).stdout)
    by_ip = {n["dst"]: n.get("lladdr") for n in neigh}
    assert routed["ip"] not in by_ip, "the scanner must not learn a MAC for a routed device"
    router_mac = by_ip.get("198.18.0.254")
    assert router_mac and router_mac != routed["mac"]


def test_lab_exec_runs_in_the_scanner_namespace(lab) -> None:
    result = lab.exec(["ip", "-4", "-o", "addr", "show", "lab0"], capture_output=True, text=True, check=True)
    assert "198.18.0.1/24" in result.stdout
    assert subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout.count("198.18.0.1/24") == 0

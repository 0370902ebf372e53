"""The lab's IPv6 segments (docs/lab.md): ULA only, no default route, every protocol of a
persona answered on its IPv6 address, multicast responders on the IPv6 groups, quiet links."""

from __future__ import annotations

import json
import select
import socket
import struct
import time
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.lab

SCANNER6 = "fdca:a0d1::1"
HIK6 = "fdca:a0d1::10"             # hikvision-camera-v6: IPv6 only
DAHUA6 = "fdca:a0d1:0:1::20"       # dahua-camera-v6: IPv6 only, behind the router
AXIS = ("198.18.0.121", "fdca:a0d1::5c1e:93a7:d0f2:4b61")   # axis-camera-dual
WSD_PROBE = ('<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
             'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
             'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><e:Header>'
             '<w:MessageID>uuid:{}</w:MessageID><w:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>'
             '<w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action>'
             '</e:Header><e:Body><d:Probe/></e:Body></e:Envelope>')


def by_persona(lab: Any) -> dict[str, dict[str, Any]]:
    return {d["persona"]: d for d in lab.truth()}


def sweep6(lab: Any, dest: tuple[str, int], payload: bytes, wait: float = 1.0,
           source: str = SCANNER6) -> list[tuple[bytes, str]]:
    """Send one datagram from `source` on lab0 and collect (reply, sender address) for `wait` s."""
    with lab.in_scanner_ns():
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        ifindex = socket.if_nametoindex("lab0")
    with sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        sock.bind((source, 0, 0, ifindex if source.startswith("fe80") else 0))
        sock.sendto(payload, (dest[0], dest[1], 0, ifindex))
        replies, deadline = [], time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            if select.select([sock], [], [], left)[0]:
                data, addr = sock.recvfrom(65535)
                replies.append((data, addr[0]))
    return replies


def routes(lab: Any, family: str) -> list[dict[str, Any]]:
    out = lab.exec(["ip", "-j", family, "route", "show", "table", "all"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_scanner_namespace_has_no_default_route_for_either_family(lab6) -> None:
    for family in ("-4", "-6"):
        table = routes(lab6, family)
        assert table, f"no {family} routes at all: the lab is not dual-stack"
        assert not [r for r in table if r["dst"] == "default"], (family, table)
    unicast6 = {r["dst"] for r in routes(lab6, "-6")
                if r.get("type", "unicast") == "unicast" and r.get("table", "main") == "main"}
    assert unicast6 == {"fdca:a0d1::/64", "fdca:a0d1:0:1::/64", "fe80::/64"}


def test_ipv6_only_personas_have_no_ipv4_and_dual_stack_ones_have_both(lab6) -> None:
    truth = by_persona(lab6)
    spec = {h["ip"]: h for h in json.loads(lab6.spec_path.read_text())["devices"]}
    for device in truth.values():
        if device["ipv6"] is None:
            continue
        host = spec[device["ip"]]
        out = json.loads(lab6.exec(["ip", "-n", host["netns"], "-j", "addr", "show", host["ifname"]],
                                   capture_output=True, text=True, check=True).stdout)
        families = {(a["family"], a["local"]) for a in out[0]["addr_info"] if a.get("scope") == "global"}
        ipv4 = {("inet", device["ip"])} if ":" not in device["ip"] else set()
        assert families == ipv4 | {("inet6", device["ipv6"])}, device["persona"]


def test_tcp_services_answer_on_ipv6_local_routed_and_dual_stack(lab6) -> None:
    def get(ip: str, port: int) -> bytes:
        with lab6.in_scanner_ns():
            sock = socket.create_connection((ip, port), timeout=3)
        with sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return sock.recv(4096)
    assert b"Server: App-webs/" in get(HIK6, 80)
    assert b"P3P: CP=CAO PSA OUR" in get(DAHUA6, 80)       # routed: through fdca:a0d1::fffe
    for ip in AXIS:
        assert b"Location: /camera/index.html" in get(ip, 80)
    with lab6.in_scanner_ns():
        sdk = socket.create_connection((HIK6, 8000), timeout=3)
    with sdk:
        assert sdk.recv(16) == bytes.fromhex("000000100000001e0000001e00000000")


def test_ws_discovery_on_ff02_c_answers_with_bracketed_xaddrs(lab6) -> None:
    message_id = uuid.uuid4()
    replies = sweep6(lab6, ("ff02::c", 3702), WSD_PROBE.format(message_id).encode())
    senders = {ip for _, ip in replies}
    truth = by_persona(lab6)
    onvif6 = {d["ipv6"] for d in truth.values() if d["ipv6"] and "onvif-wsd" in d["udp"] and d["segment"] == "local"}
    assert senders == onvif6 and HIK6 in senders and AXIS[1] in senders
    # the routed camera is off-link: a link-scope group never reaches it
    assert DAHUA6 not in senders
    for data, ip in replies:
        assert f"<wsdd:XAddrs>http://[{ip}]/onvif/device_service</wsdd:XAddrs>" in data.decode()
        assert f"uuid:{message_id}" in data.decode()


def test_ssdp_m_search_on_ff02_c_gets_an_ipv6_location(lab6) -> None:
    nvr = by_persona(lab6)["hikvision-nvr-dual"]
    search = (b'M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
              b"ST: upnp:rootdevice\r\n\r\n")
    replies = sweep6(lab6, ("ff02::c", 1900), search)
    assert [ip for _, ip in replies] == [nvr["ipv6"]]
    assert f"LOCATION: http://[{nvr['ipv6']}]:49152/rootDesc.xml".encode() in replies[0][0]


def test_mdns_on_ff02_fb_answers_with_an_aaaa_record(lab6) -> None:
    question = b"\x0b_axis-video\x04_tcp\x05local\x00" + struct.pack("!HH", 12, 1)
    query = struct.pack("!HHHHHH", 0x4242, 0, 1, 0, 0, 0) + question
    [(data, ip)] = sweep6(lab6, ("ff02::fb", 5353), query)   # legacy unicast: from our port, to us
    assert ip == AXIS[1]
    aaaa = b"\x11axis-accc8e400121\x05local\x00" + struct.pack("!HH", 28, 0x8001)
    assert aaaa in data and socket.inet_pton(socket.AF_INET6, AXIS[1]) in data
    assert socket.inet_aton(AXIS[0]) not in data, "an IPv6 answer carries no A record"


def test_sadp_and_dhip_stay_ipv4_only(lab6) -> None:
    for port in (37020, 37810):
        assert sweep6(lab6, ("ff02::1", port), b"<Probe><Types>inquiry</Types></Probe>", wait=0.5) == []


def test_replugging_an_ipv6_device_sends_no_router_solicitation_or_dad(lab6) -> None:
    """IPv6 is switched on with RS, DAD and autoconf off: a link coming up only sends MLD
    reports (docs/lab.md), so captures show what the scanner sent and the devices answered."""
    from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6ND_RS, IPv6

    with lab6.capture("ip6") as cap:
        for persona in ("hikvision-camera-v6", "axis-camera-dual"):
            lab6.unplug(persona)
            lab6.plug(persona)
        time.sleep(1.0)
        sweep6(lab6, ("ff02::c", 3702), WSD_PROBE.format(uuid.uuid4()).encode(), wait=0.5)  # positive control
    packets = cap.packets()
    assert any(IPv6 in p and p[IPv6].dst == "ff02::c" for p in packets), "the capture saw nothing"
    assert not [p for p in packets if ICMPv6ND_RS in p]
    assert not [p for p in packets if ICMPv6ND_NS in p and p[IPv6].src == "::"], "DAD probe seen"
    # and the replugged devices are back on the same IPv6 addresses
    for ip in (HIK6, AXIS[1]):
        with lab6.in_scanner_ns():
            socket.create_connection((ip, 80), timeout=3).close()


def test_an_ipv6_fleet_answers_each_host_from_its_own_mac(lab_factory) -> None:
    lab = lab_factory(only=["hikvision-camera", "axis-camera"], count=6, ipv6=True)
    truth = lab.truth()
    assert [d["ip"] for d in truth] == [f"fdca:a0d1:0:2::{i}" for i in range(2, 8)]
    assert all(d["ipv6"] == d["ip"] and "sadp" not in d["udp"] for d in truth)
    for device in truth:
        with lab.in_scanner_ns():
            sock = socket.create_connection((device["ip"], 80), timeout=3)
        with sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert sock.recv(12).startswith(b"HTTP/1.")
    neigh = json.loads(lab.exec(["ip", "-j", "-6", "neigh", "show", "dev", "lab0"], capture_output=True,
                                text=True, check=True).stdout)
    macs = {n["dst"]: n.get("lladdr") for n in neigh}
    assert {d["ip"]: d["mac"] for d in truth} == {ip: macs.get(ip) for ip in (d["ip"] for d in truth)}
    assert not [r for r in routes(lab, "-6") if r["dst"] == "default"]

"""The engine against the simulated lab: real ARP, TCP, UDP multicast, captured on the wire."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab

LOCAL, ROUTED = "198.18.0.0/24", "198.18.1.0/24"


def devices(lab, segment: str | None = None) -> list[dict]:
    return [d for d in lab.truth() if segment is None or d["segment"] == segment]


def test_arp_finds_local_personas_with_their_macs(elab, scan) -> None:
    out = scan(elab, [LOCAL], probes=())
    assert out.arp_used
    found = {h.ip: h.mac for h in out.hosts}
    truth = {d["ip"]: d["mac"] for d in devices(elab, "local")}
    assert truth and {ip: found.get(ip) for ip in truth} == truth
    arp = {(o.ip, o.mac) for o in out.observations if o.source == "arp"}
    assert set(truth.items()) <= arp
    assert "198.18.0.1" not in found  # the scanner never probes itself


def test_routed_personas_are_found_without_macs(elab, scan) -> None:
    out = scan(elab, [ROUTED], probes=())
    routed = devices(elab, "routed")
    assert routed, "the lab ships routed personas"
    hosts = {h.ip: h for h in out.hosts}
    for d in routed:
        host = hosts.get(d["ip"])
        assert host is not None, f"routed device {d['ip']} not discovered"
        assert host.mac is None
        assert set(d["tcp_ports"]) & set(out_ports()) <= host.open_ports
    assert not any(o.source == "arp" for o in out.observations)


def out_ports() -> tuple[int, ...]:
    from camaudit.model import DEFAULT_PORTS
    return DEFAULT_PORTS


def test_excluded_addresses_receive_no_packet(elab, scan) -> None:
    local = [d["ip"] for d in devices(elab, "local")]
    routed = [d["ip"] for d in devices(elab, "routed")]
    excluded = local[:2] + routed[:1]
    kept = local[2:3] or routed[1:2]
    with elab.capture() as cap:
        out = scan(elab, [LOCAL, ROUTED], excludes=excluded)
    for ip in excluded:
        assert packets_to(cap, ip) == [], f"packets sent to excluded {ip}"
        # a multicast probe (addressed to a group, not to a host) may make it answer: dropped
        assert not any(o.ip == ip for o in out.observations)
    for ip in kept:  # the capture works and saw the scan, so the test above can fail
        assert packets_to(cap, ip), f"no packet to {ip}: capture or scan broken"


def packets_to(cap, ip: str) -> list:
    """Frames the scanner addressed to `ip`: IP unicast to it, or ARP asking for it."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP

    return [p for p in cap.packets()
            if (IP in p and p[IP].dst == ip) or (ARP in p and p[ARP].op == 1 and p[ARP].pdst == ip)]


def test_rate_cap_measured_on_the_wire(elab, scan) -> None:
    from scapy.layers.inet import IP, TCP

    rate = 150
    with elab.capture("tcp") as cap:
        scan(elab, [ROUTED], probes=(), ports=(80, 554), rate=rate)
    syns = sorted(float(p.time) for p in cap.packets()
                  if IP in p and TCP in p and p[IP].src == "198.18.0.1" and p[TCP].flags == "S")
    assert len(syns) >= 400  # 254 addresses x 2 ports, minus nothing
    # most packets in any one-second window: the cap, with generous tolerance for timer jitter
    peak = max(sum(1 for t in syns[i:] if t < start + 1.0) for i, start in enumerate(syns))
    assert peak <= rate * 1.3 + 5, f"{peak} SYNs in one second at --rate {rate}"
    overall = (len(syns) - 1) / (syns[-1] - syns[0])
    assert overall <= rate * 1.15


def test_udp_probes_start_when_arp_hears_the_host_not_after_its_port_scan(elab, scan) -> None:
    """SNMP needs no open TCP port: its request leaves while the host's ports are still being
    scanned, so a silent agent's wait overlaps the port scan instead of following it."""
    from scapy.layers.inet import IP, TCP, UDP

    ip = devices(elab, "local")[0]["ip"]
    with elab.capture("tcp or udp port 161") as cap:
        scan(elab, [ip], probes=("snmp",), rate=100, snmp_communities=("camaudit-test",))
    to_host = [p for p in cap.packets() if IP in p and p[IP].dst == ip]
    syns = [float(p.time) for p in to_host if TCP in p and p[TCP].flags == "S"]
    snmp = [float(p.time) for p in to_host if UDP in p and p[UDP].dport == 161]
    assert len(syns) >= 5 and snmp, (len(syns), len(snmp))   # 9 ports at 100/s: the scan takes ≥ 80 ms
    assert min(snmp) < max(syns)


def test_sadp_and_dhip_replies_become_fields(elab, scan) -> None:
    out = scan(elab, [LOCAL, ROUTED], probes=("sadp", "dhip"))
    by = {(o.source, o.ip): o for o in out.observations if o.source in ("sadp", "dhip")}
    expected = [(proto, d) for d in devices(elab) for proto in ("sadp", "dhip") if proto in d.get("udp", [])]
    assert any(p == "sadp" for p, _ in expected) and any(p == "dhip" for p, _ in expected)
    for proto, d in expected:
        obs = by.get((proto, d["ip"]))
        assert obs is not None, f"no {proto} reply parsed from {d['ip']} ({d['persona']})"
        fields = obs.data["fields"]
        assert fields, obs
        if proto == "sadp":
            assert fields.get("DeviceSN") == d["serial"]
            assert obs.mac == d["mac"]
        else:
            assert fields.get("SerialNo") == d["serial"]


def test_multicast_replies_from_outside_the_targets_are_dropped(elab, scan) -> None:
    sadp = [d for d in devices(elab, "local") if "sadp" in d.get("udp", [])]
    assert len(sadp) >= 2, "needs two SADP personas on the local segment"
    target = sadp[0]["ip"]
    out = scan(elab, [target], probes=("sadp",))
    assert {o.ip for o in out.observations} == {target}
    assert out.dropped >= len(sadp) - 1


def test_nmap_backend_finds_the_same_local_hosts(elab, scan) -> None:
    native = scan(elab, [LOCAL], probes=())
    via_nmap = scan(elab, [LOCAL], probes=(), engine="nmap")
    assert {(h.ip, h.mac, h.open_ports) for h in via_nmap.hosts} == \
        {(h.ip, h.mac, h.open_ports) for h in native.hosts}


def test_open_ports_no_probe_covers_are_scan_warnings(elab, scan) -> None:
    """`--ports` with TR-069 and raw printing: the devices' ports are found open, no probe
    speaks those protocols, and the scan says so in a warning instead of staying silent."""
    uncovered = (7547, 9100)
    holders = {port: sorted(d["ip"] for d in devices(elab, "local") if port in d["tcp_ports"])
               for port in uncovered}
    assert all(holders.values()), "the lab ships a device with each of these ports open"
    targets = sorted({ip for ips in holders.values() for ip in ips})
    out = scan(elab, targets, ports=(80, *uncovered))
    for port, ips in holders.items():
        said = [w for w in out.warnings if f"port {port} open" in w and "no probe covers it" in w]
        assert len(said) == 1, out.warnings
        assert all(ip in said[0] for ip in ips[:5])
        assert said[0].startswith(f"{ips[0]}: " if len(ips) == 1 else f"port {port} open on {len(ips)} hosts")
        assert all(port in {h.ip: h for h in out.hosts}[ip].open_ports for ip in ips)
    assert not any("port 80 open" in w for w in out.warnings)  # the HTTP probes cover 80
    narrowed = scan(elab, holders[9100], ports=(9100,), probes=("rtsp",))
    assert [w for w in narrowed.warnings if "no selected probe covers it" in w]


def test_a_payload_mac_never_beats_the_arp_answer_that_comes_later(elab, scan) -> None:
    """At a low rate the multicast SADP sweep has the spoofer's reply (claiming the real
    camera's MAC) seconds before ARP reaches the spoofer's address: the reply must still be
    filed under the MAC that answered ARP, never merged into the camera it impersonates."""
    spoof = next(d for d in elab.truth() if d["persona"] == "hostile-sadp-spoof")
    out = scan(elab, [LOCAL], rate=100, probes=("sadp",))
    replies = [o for o in out.observations if o.source == "sadp" and o.ip == spoof["ip"]]
    assert replies and all(o.mac == spoof["mac"] for o in replies), [(o.ip, o.mac) for o in replies]

"""Against the lab: the mDNS sweep and both WS-Discovery dialects, with real packets.

The mDNS sweep runs once per module inside the lab's scanner namespace; every persona with
an `[mdns]` section must come back as one observation per device carrying what its file says
it publishes, hostile ones with the status that says what they did and bounded data. The
WS-Discovery sweep must hear the persona that answers only the 2009/01 dialect.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import pytest

from camaudit.lab import select_personas
from camaudit.lab.server.render import device_vars, fill_str
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes.mdns import MAX_ITEMS, MdnsProbe
from camaudit.probes.onvif import WsDiscoveryProbe
from camaudit.scan_context import ScanContext
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

HOSTILE = {"hostile-mdns-loop": ProbeStatus.PROTOCOL_ERROR,
           "hostile-mdns-rdlength": ProbeStatus.PROTOCOL_ERROR,
           "hostile-mdns-flood": ProbeStatus.OK}


def _sweep(lab, probe) -> list[Observation]:
    targets = build_targets(["198.18.0.0/24"])

    async def run() -> list[Observation]:
        ctx = ScanContext(targets, source_ip=lab.scanner_ip, interface=lab.scanner_iface, on_link=True)
        return await probe.sweep([], ctx)
    with lab.in_scanner_ns():
        return asyncio.run(run())


@pytest.fixture(scope="module")
def mdns_seen(lab) -> tuple[dict[str, list[Observation]], dict[str, dict]]:
    truth = {t["ip"]: t for t in lab.truth()}
    by_ip: dict[str, list[Observation]] = {}
    for o in _sweep(lab, MdnsProbe()):
        by_ip.setdefault(o.ip, []).append(o)
    return by_ip, truth


def test_every_mdns_persona_is_one_observation_with_what_it_publishes(mdns_seen) -> None:
    by_ip, truth = mdns_seen
    personas = {p.id: p for p in select_personas(None)}
    speakers = {ip: t for ip, t in truth.items() if "mdns" in t["udp"]}
    assert {"hikvision-mdns", "printer-hp-mdns"} <= {t["persona"] for t in speakers.values()}
    for ip, t in speakers.items():
        p = personas[t["persona"]]
        values = device_vars(ip, t["mac"])
        [obs] = by_ip.get(ip, [None])
        assert obs is not None and obs.status is ProbeStatus.OK, t["persona"]
        got = {(s["instance"], s["type"]): s for s in obs.data["services"]}
        host = fill_str(p.mdns.hostname, values) + ".local"
        for s in p.mdns.services:
            svc = got[(fill_str(s.instance, values), s.type)]
            assert svc["port"] == s.port and svc["host"] == host
            assert svc.get("txt", {}) == dict(kv.partition("=")[::2] for kv in s.txt)
        assert set(obs.data["types"]) == {s.type for s in p.mdns.services}
        assert host in obs.data["hostnames"] and ip in obs.data["addresses"]
    # devices without an mDNS responder are not reported by this sweep
    assert set(by_ip) <= set(speakers) | {t["ip"] for t in truth.values() if t["persona"] in HOSTILE}


def test_hostile_mdns_replies_end_bounded_with_their_status(mdns_seen) -> None:
    by_ip, truth = mdns_seen
    found = {t["persona"]: by_ip.get(ip, []) for ip, t in truth.items() if t["persona"] in HOSTILE}
    assert set(found) == set(HOSTILE)
    for persona, status in HOSTILE.items():
        [obs] = found[persona]
        assert obs.status is status, (persona, obs)
        if status is ProbeStatus.PROTOCOL_ERROR:
            assert obs.error and obs.ip in obs.error and not obs.data
    flood = found["hostile-mdns-flood"][0].data
    # 900 records arrived, a header claimed 65,535; one name and one address, nothing repeated
    assert flood["hostnames"] == ["a"] and flood["addresses"] == ["198.18.0.239"]
    assert all(len(v) <= MAX_ITEMS for v in flood.values())


def test_hostile_mdns_parse_cost_is_measured(mdns_seen) -> None:
    """Not a timed assertion: parses the flood datagram again to print what it costs
    (reported in docs/security.md); asserts only that the result is bounded."""
    from camaudit.lab.persona import load
    from camaudit.lab.server import udp
    from camaudit.lab.server.mdns import MdnsAnswers
    from camaudit.model import Datagram
    from camaudit.probes.mdns import merge_replies, query
    p = next(p for p in select_personas(None) if p.id == "hostile-mdns-flood")
    handler = udp.misbehaving(p.mdns.behaviour, MdnsAnswers(load(p.source).mdns, device_vars(p.ip, "02:cb:39:00:00:01")).reply)
    [(payload, _)] = handler(query(), ("198.18.0.1", 5353))
    tracemalloc.start()
    start = time.perf_counter()
    devices = merge_replies([Datagram(p.ip, 5353, payload)] * 16)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"mdns flood: 16 x {len(payload)} B datagrams parsed in {elapsed * 1000:.1f} ms, peak {peak / 1024:.0f} KiB")
    assert len(devices) == 1 and devices[0].records <= 16 * 256


def test_wsd_sweep_hears_a_device_that_answers_only_the_2009_dialect(lab) -> None:
    truth = {t["persona"]: t for t in lab.truth()}
    only_2009 = truth["onvif-wsd2009"]
    assert "onvif-wsd2009" in only_2009["udp"] and "onvif-wsd" not in only_2009["udp"]
    found = {o.ip: o for o in _sweep(lab, WsDiscoveryProbe())}
    obs = found.get(only_2009["ip"])
    assert obs is not None and obs.status is ProbeStatus.OK
    assert "onvif://www.onvif.org/hardware/IPC-HDW2431T-AS-S2" in obs.data["scopes"]
    assert obs.data["xaddrs"] == [f"http://{only_2009['ip']}/onvif/device_service"]
    # devices that answer the 2005/04 dialect are still heard
    assert truth["dahua-camera"]["ip"] in found and truth["hikvision-camera"]["ip"] in found

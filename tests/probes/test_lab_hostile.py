"""Against a lab device whose ports misbehave: every probe ends within its budget and
records what happened as a status (drip → timeout with the headers kept, silence → timeout,
reset → reset), and a mute port gets no second request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from camaudit.lab import Lab
from camaudit.model import Bounds, Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes.banner import BannerProbe
from camaudit.probes.http import HttpProbe
from camaudit.probes.rtsp import RtspProbe
from camaudit.scan_context import ScanContext
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab
PERSONA = Path(__file__).parent / "personas" / "hostile-ports.toml"


@pytest.fixture
def hostile(lab_factory) -> tuple[Lab, dict]:
    lab = lab_factory(only=["hostile-ports"], extra_personas=[PERSONA])
    [device] = lab.truth()
    return lab, device


def probe_all(lab: Lab, ip: str) -> dict[tuple[str, int], list[Observation]]:
    jobs = [(HttpProbe(), 80), (HttpProbe(), 8080), (RtspProbe(), 554), (BannerProbe(), 8000)]

    async def main():
        ctx = ScanContext(build_targets([ip]), bounds=Bounds(connect_timeout=1.0, read_timeout=1.0),
                           source_ip=lab.scanner_ip, interface=lab.scanner_iface, on_link=True)
        results = await asyncio.gather(*(p.probe(Host(ip), port, ctx) for p, port in jobs))
        return {(p.name, port): obs for (p, port), obs in zip(jobs, results)}

    with lab.in_scanner_ns():
        return asyncio.run(main())


def test_misbehaving_ports_cost_one_budget_each_and_say_why(hostile):
    lab, device = hostile
    with lab.capture() as cap:
        got = probe_all(lab, device["ip"])
    [drip] = got[("http", 80)]
    assert drip.status is ProbeStatus.TIMEOUT
    assert drip.data["path"] == "/"
    [silent] = got[("http", 8080)]
    assert silent.status is ProbeStatus.TIMEOUT and silent.data == {"path": "/"}
    [rst] = got[("rtsp", 554)]                       # no DESCRIBE after a reset OPTIONS
    assert rst.status in (ProbeStatus.RESET, ProbeStatus.PROTOCOL_ERROR) and rst.data["method"] == "OPTIONS"
    [quiet] = got[("banner", 8000)]
    assert quiet.status is ProbeStatus.TIMEOUT
    # one connection per mute port: no path table walked against a device that stopped talking
    syns = [p for p in cap.packets() if _is_syn_to(p, device["ip"])]
    assert sorted(_dport(p) for p in syns) == [80, 554, 8000, 8080]


def _is_syn_to(pkt, ip: str) -> bool:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    frame = Ether(bytes(pkt))
    return IP in frame and TCP in frame and frame[IP].dst == ip and frame[TCP].flags == "S"


def _dport(pkt) -> int:
    from scapy.layers.inet import TCP
    from scapy.layers.l2 import Ether
    return int(Ether(bytes(pkt))[TCP].dport)

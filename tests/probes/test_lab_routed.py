"""WS-Discovery and mDNS reach a routed device only by their unicast datagram: multicast stays
on the scanner's segment (TTL 1, no multicast routing), unicast crosses the lab router."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes.base import SweepProbe
from camaudit.probes.mdns import MdnsProbe
from camaudit.probes.onvif import WsDiscoveryProbe
from camaudit.scan_context import ScanContext
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab
PERSONAS = Path(__file__).parent / "personas"


def routed_observation(lab_factory, persona: str, probe: SweepProbe) -> Observation:
    """The routed device's one observation from a sweep with unicast, after checking that the
    same sweep without unicast (multicast only) does not reach it."""
    lab = lab_factory(only=[persona], extra_personas=[PERSONAS / f"{persona}.toml"])
    [device] = lab.truth()
    assert device["segment"] == "routed"

    async def sweep(hosts: list[Host]) -> list[Observation]:
        ctx = ScanContext(build_targets([device["ip"]]), source_ip=lab.scanner_ip,
                          interface=lab.scanner_iface, on_link=True)
        return await probe.sweep(hosts, ctx)

    with lab.in_scanner_ns():
        multicast_only = asyncio.run(sweep([]))
        with_unicast = asyncio.run(sweep([Host(device["ip"])]))
    assert [o for o in multicast_only if o.ip == device["ip"]] == []
    [obs] = [o for o in with_unicast if o.ip == device["ip"]]
    assert obs.status is ProbeStatus.OK and obs.mac is None
    return obs


def test_routed_onvif_device_answers_the_unicast_probe_only(lab_factory):
    obs = routed_observation(lab_factory, "onvif-routed", WsDiscoveryProbe())
    assert obs.data["scopes"] == ["onvif://www.onvif.org/name/Dahua", "onvif://www.onvif.org/hardware/IPC-HDW1230S"]
    assert obs.data["xaddrs"] == [f"http://{obs.ip}/onvif/device_service"]


def test_routed_mdns_device_answers_the_direct_unicast_query_only(lab_factory):
    obs = routed_observation(lab_factory, "mdns-routed", MdnsProbe())
    assert obs.data["services"] == [{"instance": "HIKVISION DS-2CD2722FWD-IZS - 733050999", "type": "_CGI._tcp",
                                     "port": 80, "host": "DS-2CD2722FWD-IZS20170321BBWR733050999.local",
                                     "txt": {"path": "/"}}]

"""The lab's hostile personas against every probe that applies to their ports, chosen as the
engine chooses (`applies_to`): each ends within its budget with the status that says what the
device did, and keeps only bounded data."""

from __future__ import annotations

import asyncio
import json

import pytest

from camaudit.engine import available_probes
from camaudit.lab import select_personas
from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus as S
from camaudit.probes.onvif import MAX_ITEMS, WsDiscoveryProbe
from camaudit.scan_context import ScanContext
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

# (persona, source, port) -> the status of the probe's first observation
EXPECT = {
    ("hostile-drip", "http", 80): S.TIMEOUT,
    ("hostile-drip", "rtsp", 554): S.TIMEOUT,
    ("hostile-silent", "http", 80): S.TIMEOUT,
    ("hostile-silent", "rtsp", 554): S.TIMEOUT,
    ("hostile-silent", "banner", 8000): S.TIMEOUT,
    ("hostile-reset", "http", 80): S.RESET,
    ("hostile-reset", "rtsp", 554): S.RESET,
    ("hostile-reset", "banner", 37777): S.RESET,
    ("hostile-garbage", "http", 80): S.PROTOCOL_ERROR,
    ("hostile-garbage", "rtsp", 554): S.PROTOCOL_ERROR,
    ("hostile-garbage", "banner", 8000): S.OK,            # bytes on an SDK port are its banner
    ("hostile-http-endless", "http", 80): S.TOO_LARGE,    # header lines forever
    ("hostile-http-endless", "http", 8080): S.TOO_LARGE,  # a body that never ends
    ("hostile-bad-utf8", "http", 80): S.OK,
    ("hostile-bad-utf8", "rtsp", 554): S.OK,
    ("hostile-soap-bomb", "onvif", 80): S.PROTOCOL_ERROR,
    ("hostile-soap-xxe", "onvif", 80): S.PROTOCOL_ERROR,
    ("hostile-tls-stall", "tls", 443): S.TIMEOUT,
    ("hostile-tls-stall", "tls", 8443): S.TIMEOUT,
    ("hostile-tls-stall", "https", 443): S.TIMEOUT,
    ("hostile-wsd-bomb", "onvif", 3702): S.PROTOCOL_ERROR,
    ("hostile-wsd-flood", "onvif", 3702): S.OK,
    ("hostile-ssh-endless", "ssh", 22): S.PROTOCOL_ERROR,  # an identification line that never ends
    ("hostile-telnet-iac", "telnet", 23): S.TOO_LARGE,     # option requests and never a prompt
    ("hostile-every-port", "ssh", 22): S.TIMEOUT,          # HTTP lines, then silence: no SSH line came
    ("hostile-every-port", "telnet", 23): S.OK,            # any text is a Telnet banner
}


@pytest.fixture(scope="module")
def seen(lab) -> dict[tuple[str, str, int], list[Observation]]:
    personas = {p.id: p for p in select_personas(None) if p.id.startswith("hostile-")}
    devices = {t["ip"]: (personas[t["persona"]], t) for t in lab.truth() if t["persona"] in personas}
    host_probes, _, _ = available_probes()

    async def run() -> list[list[Observation]]:
        ctx = ScanContext(build_targets(list(devices)), source_ip=lab.scanner_ip,
                           interface=lab.scanner_iface, on_link=True)
        jobs = [probe.probe(Host(ip, t["mac"]), port, ctx)
                for ip, (p, t) in devices.items() for port in p.tcp_ports
                for probe in host_probes if probe.applies_to(Host(ip), port)]
        return await asyncio.gather(WsDiscoveryProbe().sweep([], ctx), *jobs)

    with lab.in_scanner_ns():
        results = asyncio.run(run())
    out: dict[tuple[str, str, int], list[Observation]] = {}
    for observations in results:
        for o in observations:
            if o.ip in devices:
                out.setdefault((devices[o.ip][0].id, o.source, o.port), []).append(o)
    return out


@pytest.mark.parametrize("key", sorted(EXPECT), ids=lambda k: f"{k[0]}-{k[1]}-{k[2]}")
def test_hostile_port_ends_with_the_right_status(seen, key):
    assert key in seen, f"no observation for {key}"
    first = seen[key][0]
    assert first.status is EXPECT[key], first.error
    json.dumps(first.to_dict())   # always serialisable (bad UTF-8 became U+FFFD)


def test_mute_ports_get_one_request_only(seen):
    for key, status in EXPECT.items():
        if status in (S.TIMEOUT, S.RESET) and key[1] in ("http", "https"):
            assert len(seen[key]) == 1, key


def test_invalid_utf8_is_replaced_not_fatal(seen):
    root = seen[("hostile-bad-utf8", "http", 80)][0]
    assert "\ufffd" in root.data["headers"]["Server"] and root.data["status"] == 200


def test_redirects_stay_on_the_device_and_end(seen):
    paths = [o.data["path"] for o in seen[("hostile-redirect", "http", 80)]]
    assert sorted(paths) == sorted(set(paths))              # nothing asked twice
    assert "/a" in paths                                      # same-host redirect followed
    assert not any(p.startswith("http") for p in paths)      # never another host or scheme


def test_xml_bombs_and_entities_are_refused_unexpanded(seen):
    for key in (("hostile-soap-bomb", "onvif", 80), ("hostile-soap-xxe", "onvif", 80),
                ("hostile-wsd-bomb", "onvif", 3702)):
        obs = seen[key][0]
        assert "rejected XML" in obs.error and "lol" not in json.dumps(obs.data)
        assert "root:" not in json.dumps(obs.to_dict())


def test_probe_match_flood_is_bounded(seen):
    [flood] = seen[("hostile-wsd-flood", "onvif", 3702)]
    assert all(len(flood.data[k]) <= MAX_ITEMS for k in ("types", "scopes", "xaddrs"))


def test_endless_answers_keep_only_their_caps(seen):
    head, body = seen[("hostile-http-endless", "http", 80)][0], seen[("hostile-http-endless", "http", 8080)][0]
    assert sum(len(k) + len(v) for k, v in head.data["headers"].items()) <= 16 * 1024
    assert body.data["title"] == "endless" and len(body.data["body"]) <= 16384

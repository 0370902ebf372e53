"""Against the lab: each persona yields the observations its protocols should.

The probes run once per module inside the lab's scanner namespace, against every shipped
persona, driven by the persona files themselves (what each port is and what it answers), so
a new persona is checked without a new test. A capture of the same run proves the HTTP
probe only ever sent requests from its fixed table.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509

from camaudit.lab import select_personas
from camaudit.lab.persona import Answer, Persona
from camaudit.lab.server.render import device_vars, fill_str
from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes.banner import DVRIP_QUERY, BannerProbe
from camaudit.probes.base import HostProbe
from camaudit.probes.http import FAVICON, PATHS, RPC2_PATH, HttpProbe, HttpsProbe
from camaudit.probes.onvif import DEVICE_SERVICE, MAX_ITEMS, OnvifSoapProbe, WsDiscoveryProbe
from camaudit.probes.rtsp import RtspProbe
from camaudit.probes.tls import TlsProbe
from camaudit.scan_context import ScanContext
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

_DYNAMIC = re.compile(r"\{(date|nonce|cseq|length)\}")
_REQUEST = re.compile(rb"(GET|POST) \S+ HTTP/1\.1\r\n.*", re.S)
ALLOWED = {("GET", p.path) for p in PATHS} | {("GET", FAVICON), ("POST", RPC2_PATH), ("POST", DEVICE_SERVICE)}


@dataclass
class Device:
    persona: Persona
    ip: str
    mac: str | None
    segment: str
    observations: list[Observation] = field(default_factory=list)

    def obs(self, source: str, port: int | None = None, **data: Any) -> list[Observation]:
        return [o for o in self.observations if o.source == source and (port is None or o.port == port)
                and all(o.data.get(k) == v for k, v in data.items())]

    def one(self, source: str, port: int | None = None, **data: Any) -> Observation:
        found = self.obs(source, port, **data)
        assert len(found) == 1, f"{self.persona.id}: expected one {source}:{port} {data}, got {found}"
        return found[0]

    def expect(self, text: str) -> str | None:
        """A persona value with its static placeholders filled; None when it is per-answer."""
        return None if _DYNAMIC.search(text) else fill_str(text, device_vars(self.ip, self.mac or ""))


@dataclass
class Run:
    devices: dict[str, Device]
    http_requests: list[bytes]


def probes_for(p: Persona) -> list[tuple[HostProbe, int]]:
    """Which of our probes a persona's open ports get (only ports that behave normally)."""
    jobs: list[tuple[HostProbe, int]] = []
    for hp in p.http:
        if hp.behaviour.name != "normal":
            continue
        jobs.append((HttpsProbe() if hp.tls else HttpProbe(), hp.port))
        if hp.tls:
            jobs.append((TlsProbe(), hp.port))
        if p.onvif and p.onvif.http_port == hp.port:
            jobs.append((OnvifSoapProbe(), hp.port))
    if p.rtsp and p.rtsp.behaviour.name == "normal":
        jobs.append((RtspProbe(), p.rtsp.port))
    for tp in p.tcp:
        if tp.behaviour.name == "normal" and tp.port in BannerProbe.default_ports:
            jobs.append((BannerProbe(), tp.port))
    return jobs


@pytest.fixture(scope="module")
def run(lab) -> Run:
    personas = {p.id: p for p in select_personas(None)}
    devices = {t["persona"]: Device(personas[t["persona"]], t["ip"], t.get("mac"), t["segment"])
               for t in lab.truth() if t["persona"] in personas}
    targets = build_targets([d.ip for d in devices.values()])

    async def scan() -> None:
        ctx = ScanContext(targets, source_ip=lab.scanner_ip, interface=lab.scanner_iface, on_link=True)

        async def one(d: Device, probe: HostProbe, port: int) -> None:
            host = Host(d.ip, d.mac if d.segment == "local" else None)
            d.observations += await probe.probe(host, port, ctx)

        routed = [Host(d.ip) for d in devices.values() if d.segment != "local"]
        sweep = WsDiscoveryProbe().sweep(routed, ctx)
        results = await asyncio.gather(sweep, *(one(d, probe, port) for d in devices.values()
                                                for probe, port in probes_for(d.persona)))
        by_ip = {d.ip: d for d in devices.values()}
        for o in results[0]:
            if o.ip in by_ip:
                by_ip[o.ip].observations.append(o)

    with lab.capture() as cap:
        with lab.in_scanner_ns():
            asyncio.run(scan())
    requests = [m.group(0) for pkt in cap.packets() if (m := _REQUEST.search(bytes(pkt)))]
    return Run(devices, requests)


def answer_for(answers: tuple[Answer, ...], fallback: Answer | None, *, path: str | None = None,
               method: str = "GET") -> Answer | None:
    for a in answers:
        if (path is None or a.path == path) and a.method in (None, method):
            return a
    return fallback


def header(obs: Observation, name: str) -> str | None:
    return next((v for k, v in obs.data["headers"].items() if k.lower() == name.lower()), None)


def check_headers(d: Device, obs: Observation, expected: Answer) -> None:
    wanted: dict[str, list[str]] = {}
    for name, value in expected.headers:
        wanted.setdefault(name, []).append(value)
    for name, values in wanted.items():
        filled = [d.expect(v) for v in values]
        if None in filled:
            assert header(obs, name) is not None, f"{d.persona.id}: header {name} missing"
        else:
            assert header(obs, name) == ", ".join(filled), f"{d.persona.id}: header {name}"  # type: ignore[arg-type]


def test_http_root_and_vendor_paths_match_each_persona(run):
    checked = 0
    for d in run.devices.values():
        for hp in d.persona.http:
            if hp.behaviour.name != "normal":
                continue
            scheme = "https" if hp.tls else "http"
            for entry in PATHS:
                expected = answer_for(hp.answers, None, path=entry.path)
                if entry.path != "/" and expected is None:
                    continue
                expected = expected or hp.not_found
                obs = d.one(scheme, hp.port, path=entry.path)
                assert obs.status is ProbeStatus.OK, f"{d.persona.id} {entry.path}: {obs.error}"
                assert obs.data["status"] == expected.status, f"{d.persona.id} {entry.path}"
                check_headers(d, obs, expected)
                checked += 1
    assert checked >= len(run.devices) // 2


def test_http_requests_come_only_from_the_fixed_table(run):
    assert run.http_requests, "the capture saw no HTTP requests"
    redirects = set()   # a same-host Location the probe followed is allowed, nothing else
    for d in run.devices.values():
        for o in d.obs("http") + d.obs("https"):
            if "headers" in o.data and (loc := header(o, "Location")):
                parts = urlsplit(loc)
                redirects.add(("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else "")))
    for req in run.http_requests:
        method, target, _ = req.split(b"\r\n", 1)[0].decode().split(" ", 2)
        assert (method, target) in ALLOWED | redirects, req[:120]
        assert b"/SDK/" not in req and b"Authorization" not in req


def test_rpc2_challenge_at_most_once_per_host_and_only_on_dahua_like_devices(run):
    asked = [d for d in run.devices.values() for o in d.observations
             if o.source in ("http", "https") and o.data.get("path") == RPC2_PATH]
    assert len(asked) == len({d.persona.id for d in asked}), "a host got two RPC2 challenges"
    for d in asked:
        assert (d.persona.truth.vendor or "") == "Dahua", f"{d.persona.id} is not Dahua lineage"
    posts = [r for r in run.http_requests if r.startswith(b"POST " + RPC2_PATH.encode())]
    assert len(posts) == len(asked)


def test_tls_subject_and_issuer_match_each_persona(run):
    checked = 0
    for d in run.devices.values():
        for hp in d.persona.http:
            if hp.tls is None or hp.behaviour.name != "normal":
                continue
            obs = d.one("tls", hp.port)
            assert obs.status is ProbeStatus.OK, obs.error
            for key, want in (("subject", hp.tls.subject), ("issuer", hp.tls.issuer)):
                filled = d.expect(want)
                assert x509.Name.from_rfc4514_string(obs.data[key]) == x509.Name.from_rfc4514_string(filled)
            checked += 1
    assert checked, "no persona with TLS"


def test_rtsp_options_and_describe_match_each_persona(run):
    checked = 0
    for d in run.devices.values():
        rt = d.persona.rtsp
        if rt is None or rt.behaviour.name != "normal":
            continue
        for method in ("OPTIONS", "DESCRIBE"):
            expected = answer_for(rt.answers, next((a for a in rt.answers if a.method is None), None),
                                  method=method)
            obs = d.one("rtsp", rt.port, method=method)
            assert obs.status is ProbeStatus.OK, f"{d.persona.id} {method}: {obs.error}"
            assert obs.data["status"] == expected.status
            check_headers(d, obs, expected)
            checked += 1
    assert checked


def test_raw_banners_match_each_persona(run):
    checked = 0
    for d in run.devices.values():
        for tp in d.persona.tcp:
            if tp.behaviour.name != "normal" or tp.port not in BannerProbe.default_ports:
                continue
            obs = d.one("banner", tp.port)
            if tp.banner:
                assert obs.status is ProbeStatus.OK and obs.data["probe"] == "null"
                assert obs.data["hex"] == tp.banner[:256].hex()
            else:
                reply = next(r.reply for r in tp.replies if DVRIP_QUERY.startswith(r.match))
                assert obs.data["probe"] == "dvrip" and obs.data["hex"] == reply[:256].hex()
            checked += 1
    assert checked


def test_onvif_discovery_matches_each_persona(run):
    checked = 0
    for d in run.devices.values():
        o = d.persona.onvif
        if o is None or o.behaviour.name != "normal":
            continue
        obs = d.one("onvif", 3702)
        assert obs.status is ProbeStatus.OK
        # WS-Discovery lists are whitespace-separated on the wire: a value with a space is two
        assert obs.data["types"] == " ".join(o.types).split()
        assert obs.data["scopes"] == " ".join(d.expect(s) for s in o.scopes).split()[:MAX_ITEMS]
        assert obs.data["xaddrs"] == " ".join(d.expect(x) for x in o.xaddrs).split()[:MAX_ITEMS]
        checked += 1
    assert checked


def test_onvif_device_information_matches_each_persona(run):
    checked = 0
    for d in run.devices.values():
        o = d.persona.onvif
        if o is None or not any(hp.port == o.http_port and hp.behaviour.name == "normal" for hp in d.persona.http):
            continue
        obs = d.one("onvif", o.http_port)
        assert obs.status is ProbeStatus.OK, obs.error
        if o.device_info_auth:
            assert obs.data["auth_required"] is True and "device_info" not in obs.data
        else:
            want = {"manufacturer": o.manufacturer, "model": o.model, "firmware": o.firmware,
                    "serial": o.serial, "hardware_id": o.hardware_id}
            assert obs.data["device_info"] == {k: d.expect(v) for k, v in want.items() if v}
        assert obs.data["system_time"]
        checked += 1
    assert checked


# The named signals of the issue, on the reference personas.

def test_hikvision_camera_reference_signals(run):
    d = run.devices["hikvision-camera"]
    assert d.one("http", 80, path="/").data["headers"]["Server"] == "App-webs/"
    assert 'realm="Hikvision"' in header(d.one("rtsp", 554, method="DESCRIBE"), "WWW-Authenticate")
    assert d.one("banner", 8000).data["hex"] == "000000100000001e0000001e00000000"
    assert any("HIKVISION" in s for s in d.one("onvif", 3702).data["scopes"])


def test_hikvision_nvr_default_certificate(run):
    d = run.devices["hikvision-nvr"]
    [tls] = d.obs("tls")
    assert tls.data["subject"] == "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"
    assert tls.data["self_signed"] is True


def test_dahua_camera_reference_signals(run):
    d = run.devices["dahua-camera"]
    [tls] = d.obs("tls")
    assert tls.data["subject"] == f"CN={d.ip}" and tls.data["issuer"].startswith("CN=Dahua Device NVR CA,")
    soap = [o for o in d.obs("onvif") if o.port != 3702]
    assert soap[0].data["device_info"]["manufacturer"] == "Dahua"
    root = d.one("http", 80, path="/")
    assert header(root, "Server") is None
    assert "onvif://www.onvif.org/name/Dahua" in d.one("onvif", 3702).data["scopes"]
    challenge = d.one("http", 80, path=RPC2_PATH)
    assert challenge.data["method"] == "POST" and '"realm"' in challenge.data["body"]

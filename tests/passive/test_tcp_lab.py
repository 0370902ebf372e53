"""A live lab scan, captured with tcpdump and imported: the TCP stream decoders identify the
same vendors from the capture as the scan did from its own answers."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scapy.all import wrpcap

from camaudit.engine import ScanPlan
from camaudit.engine import scan as engine_scan
from camaudit.identify import identify
from camaudit.observation import Observation, read_jsonl
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

PERSONAS = ["hikvision-nvr", "dahua-camera"]     # HTTP, HTTPS, RTSP, SDK ports
SOURCES = ("http", "tls", "rtsp", "banner")


def tls12_handshake(ip: str, port: int) -> None:
    """A client limited to TLS 1.2 (as older clients are), so the certificate crosses the wire
    in clear; the lab's server negotiates TLS 1.3 with the scanner itself."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((ip, port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        assert tls.version() == "TLSv1.2"


def answers(observations: list[Observation]) -> set[tuple[Any, ...]]:
    """Each HTTP/RTSP answer by what it answered and what it said (headers such as Date differ)."""
    return {(o.source, o.ip, o.port, o.data.get("path"), o.data.get("method"), o.data.get("status"),
             o.data.get("title"), o.data.get("favicon_md5")) for o in observations if o.source in ("http", "rtsp")}


def vendors(observations: list[Observation]) -> dict[str, Any]:
    return {i.ip: i.vendor for i in identify(o for o in observations if o.source in SOURCES)}


def test_imported_capture_identifies_what_the_scan_identified(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(only=PERSONAS)
    ips = [d["ip"] for d in lab.truth()]
    nvr = next(d["ip"] for d in lab.truth() if d["persona"] == "hikvision-nvr")
    plan = ScanPlan(targets=build_targets(ips), ports=(80, 443, 554, 8000, 37777),
                    probes=("http", "https", "tls", "rtsp", "banner"))
    # 2048 bytes hold a whole frame of the lab's 1500-byte MTU links; with a 64 KiB snaplen
    # tcpdump's ring holds few frames and dropped some under load
    with lab.capture("tcp", snaplen=2048) as cap:
        with lab.in_scanner_ns():
            live = engine_scan(plan).observations
            tls12_handshake(nvr, 443)
    pcap, out = tmp_path / "scan.pcap", tmp_path / "heard.jsonl"
    wrpcap(str(pcap), cap.packets())
    done = subprocess.run([sys.executable, "-m", "camaudit", "import", "pcap", str(pcap), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with out.open() as f:
        heard = list(read_jsonl(f))

    expected = vendors(live)
    assert expected == {ip: vendor for ip, vendor in vendors(heard).items() if ip in expected}
    assert set(expected.values()) >= {"Hikvision", "Dahua"}
    assert answers(heard) == answers(live)
    assert {(o.ip, o.port, o.data["hex"]) for o in heard if o.source == "banner"} == {
        (o.ip, o.port, o.data["hex"]) for o in live if o.source == "banner"}

    live_tls = next(o for o in live if o.source == "tls" and o.ip == nvr)
    [heard_tls] = [o for o in heard if o.source == "tls"]    # only the TLS 1.2 handshake shows it
    assert (heard_tls.ip, heard_tls.port, heard_tls.data["version"]) == (nvr, 443, "TLSv1.2")
    assert {k: heard_tls.data[k] for k in ("subject", "issuer", "sha256")} == {
        k: live_tls.data[k] for k in ("subject", "issuer", "sha256")}
    live_realms = {o.data["headers"].get("WWW-Authenticate") for o in live if o.source == "rtsp" and o.data.get("headers")}
    heard_realms = {o.data["headers"].get("WWW-Authenticate") for o in heard if o.source == "rtsp"}
    assert {r for r in live_realms if r} and {r.split(",")[0] for r in live_realms if r} == {
        r.split(",")[0] for r in heard_realms if r}

"""Every host probe against real servers on the IPv6 loopback address ::1.

What changes over IPv6 is the address in the bytes a probe writes (Host headers, request
URIs), the socket family, and which address the observation carries; the exclude check
must refuse an IPv6 (or IPv4-mapped) address before any packet. Link-local addresses
cannot be served here (lo has none), so their zone handling is checked on the text.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import socket
import ssl

import pytest
from pysnmp.proto.api import v2c
from pyasn1.codec.ber import decoder, encoder

from camaudit.addresses import authority, canonical, ip_sort_key
from camaudit.model import Bounds, Host
from camaudit.observation import ProbeStatus
from camaudit.probes import snmp as snmp_mod
from camaudit.probes.banner import BannerProbe
from camaudit.probes.http import HttpProbe, HttpsProbe, same_host_redirect
from camaudit.probes.onvif import OnvifSoapProbe
from camaudit.probes.rtsp import RtspProbe
from camaudit.probes.ssh import SshProbe
from camaudit.probes.telnet import TelnetProbe
from camaudit.probes.tls import TlsProbe
from camaudit.probes.upnp_description import description_target
from camaudit.scan_context import ExcludedAddress, ScanContext
from camaudit.targets import build_targets

COMMUNITY = "lab-ro"
SYS_DESCR = "1.3.6.1.2.1.1.1.0"


def host_headers(requests: list[bytes]) -> set[str]:
    return {m.group(1).decode() for r in requests for m in [re.search(rb"\r\nHost: ([^\r]*)", r)] if m}


def test_http_sends_a_bracketed_host_and_follows_a_redirect_spelled_another_way(lb6, answer) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await lb6.read_request(reader)
        port = writer.get_extra_info("sockname")[1]
        target = head.split(b" ", 2)[1]
        writer.write(answer("HTTP/1.1 302 Found", [("Location", f"http://[0:0:0:0:0:0:0:1]:{port}/next")])
                     if target == b"/" else answer("HTTP/1.1 200 OK", [("Server", "App-webs/")]))
        await writer.drain()
        writer.close()

    async def work(port: int):
        return port, await HttpProbe().probe(lb6.host(), port, lb6.ctx())
    port, obs = lb6.run(handle, work)
    assert host_headers(lb6.requests) == {f"[::1]:{port}"}
    assert "/next" in [line.split()[1] for line in lb6.request_lines()], "same device, other spelling"
    assert {o.ip for o in obs} == {"::1"} and all(o.status is ProbeStatus.OK for o in obs)


def self_signed(tmp_path) -> ssl.SSLContext:
    """A throwaway certificate from the openssl command line (subject CN=v6-device)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=v6-device", "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(tmp_path / "c.pem")], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return ctx


def test_tls_and_https_over_ipv6(lb6, answer, tmp_path) -> None:
    sctx = self_signed(tmp_path)
    handler = lb6.canned({"/": answer("HTTP/1.1 200 OK", [("Server", "webs")])})

    async def main():
        server = await asyncio.start_server(handler, "::1", 0, ssl=sctx)
        port = server.sockets[0].getsockname()[1]
        try:
            return port, await TlsProbe().probe(lb6.host(), port, lb6.ctx()), \
                await HttpsProbe().probe(lb6.host(), port, lb6.ctx())
        finally:
            server.close()
    port, [tls], https = asyncio.run(main())
    assert tls.ip == "::1" and tls.status is ProbeStatus.OK and tls.data["subject"] == "CN=v6-device"
    root = next(o for o in https if o.data.get("path") == "/")
    assert root.ip == "::1" and root.data["headers"]["Server"] == "webs"
    assert host_headers(lb6.requests) == {f"[::1]:{port}"}


def test_rtsp_request_uri_is_bracketed(lb6) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await lb6.read_request(reader)
            except asyncio.IncompleteReadError:
                break
            cseq = re.search(rb"CSeq: (\d+)", head).group(1)
            writer.write(b"RTSP/1.0 200 OK\r\nCSeq: " + cseq + b"\r\nServer: Dahua Rtsp Server\r\n"
                         b"Public: OPTIONS, DESCRIBE\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        writer.close()

    async def work(port: int):
        return port, await RtspProbe().probe(lb6.host(), port, lb6.ctx())
    port, obs = lb6.run(handle, work)
    assert lb6.request_lines() == [f"OPTIONS rtsp://[::1]:{port}/ RTSP/1.0", f"DESCRIBE rtsp://[::1]:{port}/ RTSP/1.0"]
    assert [o.ip for o in obs] == ["::1", "::1"] and obs[0].data["headers"]["Server"] == "Dahua Rtsp Server"


def test_onvif_soap_host_header_is_bracketed(lb6, answer) -> None:
    info = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Body><tds:GetDeviceInformationResponse>'
            '<tds:Manufacturer>HIKVISION</tds:Manufacturer><tds:Model>DS-2CD2043G2-I</tds:Model>'
            '</tds:GetDeviceInformationResponse></s:Body></s:Envelope>').encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await lb6.read_request(reader)  # both calls get the same answer: only the device info is read
        writer.write(answer("HTTP/1.1 200 OK", [("Content-Type", "application/soap+xml")], info))
        await writer.drain()
        writer.close()

    async def work(port: int):
        return port, await OnvifSoapProbe().probe(lb6.host(), port, lb6.ctx())
    port, [obs] = lb6.run(handle, work)
    assert host_headers(lb6.requests) == {f"[::1]:{port}"}
    assert obs.ip == "::1" and obs.data["device_info"]["manufacturer"] == "HIKVISION"


@pytest.mark.parametrize("probe,greeting,field", [
    (SshProbe(), b"SSH-2.0-dropbear_2019.78\r\n", "identification"),
    (TelnetProbe(), b"\r\nZXAN login: ", "banner"),
    (BannerProbe(), bytes.fromhex("000000100000001e0000001e00000000"), "hex"),
])
def test_banner_probes_over_ipv6(lb6, probe, greeting: bytes, field: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await writer.drain()
        await reader.read(4096)
        writer.close()

    async def work(port: int):
        return await probe.probe(lb6.host(), port, lb6.ctx())
    [obs] = lb6.run(handle, work)
    assert obs.ip == "::1" and obs.status is ProbeStatus.OK and obs.data.get(field), obs


class SnmpAgent(asyncio.DatagramProtocol):
    """Answers sysDescr to any v2c GET, and records who asked."""

    def __init__(self) -> None:
        self.asked_by: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.asked_by.append(addr[0])
        msg, _ = decoder.decode(data, asn1Spec=v2c.Message())
        pdu = v2c.apiMessage.get_pdu(msg)
        reply = v2c.apiMessage.get_response(msg)
        rpdu = v2c.apiMessage.get_pdu(reply)
        v2c.apiPDU.set_request_id(rpdu, v2c.apiPDU.get_request_id(pdu))
        v2c.apiPDU.set_varbinds(rpdu, [(SYS_DESCR, v2c.OctetString(b"Hytera IP gateway"))])
        self.transport.sendto(encoder.encode(reply), addr)


def run_snmp(ctx: ScanContext, ip: str, monkeypatch) -> tuple[list, SnmpAgent]:
    async def main():
        loop = asyncio.get_running_loop()
        transport, agent = await loop.create_datagram_endpoint(SnmpAgent, local_addr=("::1", 0))
        monkeypatch.setattr(snmp_mod, "PORT", transport.get_extra_info("sockname")[1])
        try:
            return await snmp_mod.SnmpProbe().probe(Host(ip), ctx), agent
        finally:
            transport.close()
    return asyncio.run(main())


def test_snmp_unicast_over_ipv6(monkeypatch) -> None:
    ctx = ScanContext(build_targets(["::1"]), bounds=Bounds(connect_timeout=1.0), snmp_communities=(COMMUNITY,))
    [obs], agent = run_snmp(ctx, "::1", monkeypatch)
    assert obs.ip == "::1" and obs.status is ProbeStatus.OK and obs.data["sys_descr"] == "Hytera IP gateway"
    assert set(agent.asked_by) == {"::1"}


def test_an_excluded_ipv6_address_gets_no_packet_whatever_its_spelling(lb6, monkeypatch) -> None:
    ctx = ScanContext(build_targets(["::1-::3"], excludes=["0:0::1"]), bounds=Bounds(connect_timeout=1.0),
                      snmp_communities=(COMMUNITY,))
    connections = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername"))
        writer.close()

    async def work(port: int):
        return [await HttpProbe().probe(Host(spelling), port, ctx) for spelling in ("::1", "0::0:1", "::0.0.0.1")]
    for [obs] in lb6.run(handle, work):
        assert obs.status is ProbeStatus.ERROR and "not among the scan's targets" in obs.error
    assert connections == []
    [obs], agent = run_snmp(ctx, "::1", monkeypatch)
    assert agent.asked_by == [] and obs.status is ProbeStatus.ERROR


def test_an_ipv4_exclude_refuses_the_mapped_address_before_any_packet(lb) -> None:
    ctx = ScanContext(build_targets(["127.0.0.1-3"], excludes=["127.0.0.1"]), bounds=Bounds(connect_timeout=1.0))
    connections = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername"))
        writer.close()

    async def work(port: int):
        with pytest.raises(ExcludedAddress):
            await ctx.open_connection("::ffff:127.0.0.1", port)
        with pytest.raises(ExcludedAddress):
            await ctx.exchange("::ffff:127.0.0.1", port, b"x", wait=0.1)
    lb.run(handle, work)
    assert connections == []


def test_one_host_one_slot_set_whatever_the_spelling(lb6) -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    async def work(port: int):
        ctx = lb6.ctx()
        _, writer = await ctx.open_connection("0:0:0:0:0:0:0:1", port)
        busy = ctx.hosts.busy("::1")
        writer.close()
        return busy
    assert lb6.run(hold, work) == 1


@pytest.mark.parametrize("ip,port,header,message", [
    ("fdca:a0d1::10", 80, "[fdca:a0d1::10]", "[fdca:a0d1::10]"),
    ("fdca:a0d1:0:0::10", 8080, "[fdca:a0d1::10]:8080", "[fdca:a0d1::10]:8080"),
    ("fe80::1%lab0", 8080, "[fe80::1]:8080", "[fe80::1%lab0]:8080"),   # the zone is ours, not the device's
    ("::ffff:198.18.0.10", 8080, "198.18.0.10:8080", "198.18.0.10:8080"),
    ("198.18.0.10", 80, "198.18.0.10", "198.18.0.10"),
])
def test_authority_brackets_ipv6_and_keeps_the_zone_off_the_wire(ip, port, header, message) -> None:
    assert authority(ip, port, default=80) == header
    assert authority(ip, port, default=80, zone=True) == message


@pytest.mark.parametrize("location,device,same", [
    ("http://[FDCA:A0D1:0::10]:49152/d.xml", "fdca:a0d1::10", True),
    ("http://[fdca:a0d1::11]:49152/d.xml", "fdca:a0d1::10", False),
    ("http://[fe80::1%25lab0]/d.xml", "fe80::1%lab0", True),
    ("http://[fe80::1]/d.xml", "fe80::1%lab0", True),        # a device names itself without our zone
    ("http://[fe80::1%25lab1]/d.xml", "fe80::1%lab0", False),
    ("http://[::ffff:198.18.0.10]/d.xml", "198.18.0.10", True),
    ("http://camera.example/d.xml", "198.18.0.10", False),
    ("http://[fdca::1::2]/d.xml", "fdca::1", False),
])
def test_location_and_redirects_compare_addresses_not_text(location, device, same) -> None:
    if same:
        assert description_target(location, device)[1] == "/d.xml"
    else:
        with pytest.raises(ValueError, match="LOCATION"):
            description_target(location, device)
    redirect = type("R", (), {"status": 302, "header": lambda self, name: location})()
    assert (same_host_redirect(redirect, device, 80, "http") == "/d.xml") == (same and ":49152" not in location)


def test_addresses_sort_and_spell_one_way() -> None:
    mixed = ["fdca:a0d1::2", "junk", "198.18.0.10", "fe80::1%lab1", "::ffff:198.18.0.9", "fe80::1%lab0",
             "FDCA:A0D1::1", None]
    assert sorted(mixed, key=ip_sort_key) == ["::ffff:198.18.0.9", "198.18.0.10", "FDCA:A0D1::1", "fdca:a0d1::2",
                                              "fe80::1%lab0", "fe80::1%lab1", "junk", None]
    assert [canonical(a) for a in ("FDCA:A0D1:0::10", "fe80::0001%lab0", "::ffff:c612:a", "x" * 10_000)] == [
        "fdca:a0d1::10", "fe80::1%lab0", "198.18.0.10", None]


def test_udp_exchange_picks_the_socket_family_from_the_address() -> None:
    async def main():
        loop = asyncio.get_running_loop()
        echo = type("Echo", (asyncio.DatagramProtocol,), {
            "connection_made": lambda self, t: setattr(self, "t", t),
            "datagram_received": lambda self, data, addr: self.t.sendto(data[::-1], addr)})
        transport, _ = await loop.create_datagram_endpoint(echo, local_addr=("::1", 0), family=socket.AF_INET6)
        port = transport.get_extra_info("sockname")[1]
        try:
            return await ScanContext(build_targets(["::1"])).exchange("::1", port, b"v6?", wait=1.0)
        finally:
            transport.close()
    reply = asyncio.run(main())
    assert reply is not None and reply.data == b"?6v" and reply.ip == "::1"


def test_ipv4_sweeps_spend_no_rate_token_on_ipv6_hosts() -> None:
    """The sweep sockets are IPv4: an IPv6 host in `unicast_to` is skipped, not a failed send."""
    async def main() -> tuple[int, list[str]]:
        heard: list[str] = []
        echo = type("Echo", (asyncio.DatagramProtocol,), {
            "connection_made": lambda self, t: setattr(self, "t", t),
            "datagram_received": lambda self, data, addr: (heard.append(addr[0]), self.t.sendto(b"ok", addr))})
        loop = asyncio.get_running_loop()
        v4, _ = await loop.create_datagram_endpoint(echo, local_addr=("127.0.0.2", 0))
        port = v4.get_extra_info("sockname")[1]
        v6, _ = await loop.create_datagram_endpoint(echo, local_addr=("::1", port), family=socket.AF_INET6)
        ctx = ScanContext(build_targets(["127.0.0.2", "::1"]), source_ip="127.0.0.1")
        try:
            replies = await ctx.ask(b"probe", group="239.255.255.250", port=port,
                                    unicast_to=["::1", "::ffff:127.0.0.2"], wait=0.3, repeat=1)
        finally:
            ctx.close()
            v4.close()
            v6.close()
        return ctx.rate.taken, heard + [r.ip for r in replies]
    taken, seen = asyncio.run(main())
    assert taken == 1 and seen == ["127.0.0.1", "127.0.0.2"]

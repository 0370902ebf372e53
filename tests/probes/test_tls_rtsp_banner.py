"""TLS, RTSP and raw-banner probes against loopback servers."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from camaudit.observation import ProbeStatus
from camaudit.probes.banner import DVRIP_QUERY, LINGER, BannerProbe, complete_message
from camaudit.probes.http import HttpsProbe
from camaudit.probes.rtsp import RtspProbe
from camaudit.probes.tls import TlsProbe

HIK_SUBJECT = "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"
DAHUA_ISSUER = "CN=Dahua Device NVR CA,O=Zhejiang Dahua Technology Co.\u00a0Ltd.,C=CN"


def server_tls(tmp_path, subject: str, issuer: str) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string(subject))
            .issuer_name(x509.Name.from_rfc4514_string(issuer)).public_key(key.public_key())
            .serial_number(0x1234).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return ctx


def run_tls(lb, sctx, handler, work):
    async def main():
        server = await asyncio.start_server(handler, lb.ip, 0, ssl=sctx)
        try:
            return await work(server.sockets[0].getsockname()[1])
        finally:
            server.close()
    return asyncio.run(main())


def test_tls_certificate_subject_and_issuer(lb, tmp_path):
    sctx = server_tls(tmp_path, HIK_SUBJECT, DAHUA_ISSUER)

    async def work(port):
        return await TlsProbe().probe(lb.host(), port, lb.ctx())
    [obs] = run_tls(lb, sctx, lb.canned({}), work)
    assert obs.source == "tls" and obs.status is ProbeStatus.OK
    assert obs.data["subject"] == HIK_SUBJECT
    assert obs.data["issuer"] == DAHUA_ISSUER            # U+00A0 kept as the device sent it
    assert obs.data["serial"] == "1234" and obs.data["self_signed"] is False
    assert obs.data["port"] == obs.port


def test_https_paths_over_tls(lb, tmp_path, answer):
    sctx = server_tls(tmp_path, HIK_SUBJECT, HIK_SUBJECT)
    handler = lb.canned({"/": answer("HTTP/1.1 200 OK", [("Server", "DNVRS-Webs")], b"<title>x</title>")})

    async def work(port):
        return await HttpsProbe().probe(lb.host(), port, lb.ctx())
    obs = run_tls(lb, sctx, handler, work)
    root = next(o for o in obs if o.data["path"] == "/")
    assert root.source == "https" and root.data["headers"]["Server"] == "DNVRS-Webs"


def test_tls_handshake_that_never_completes(lb):
    async def silent(reader, writer):
        await asyncio.sleep(30)

    async def work(port):
        return await TlsProbe().probe(lb.host(), port, lb.ctx(connect_timeout=0.3))
    [obs] = lb.run(silent, work)
    assert obs.status is ProbeStatus.TIMEOUT


def test_tls_against_plain_http_is_a_tls_error(lb, answer):
    async def plain_http(reader, writer):
        await reader.read(1)       # a ClientHello arrives; a plain web server answers 400
        writer.write(answer("HTTP/1.1 400 Bad Request", [("Connection", "close")]))
        await writer.drain()
        writer.close()

    async def work(port):
        return await TlsProbe().probe(lb.host(), port, lb.ctx())
    [obs] = lb.run(plain_http, work)
    assert obs.status in (ProbeStatus.TLS_ERROR, ProbeStatus.RESET)


RTSP_OPTIONS = (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: Dahua Rtsp Server\r\n"
                b"Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n")
RTSP_401 = (b'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm="Hikvision", '
            b'nonce="0123456789abcdef0123456789abcdef", stale="FALSE"\r\n\r\n')


def rtsp_server(lb, answers):
    async def handle(reader, writer):
        try:
            head = await lb.read_request(reader)
            writer.write(answers[head.split(b" ", 1)[0].decode()])
            await writer.drain()
            await asyncio.sleep(5)      # RTSP keeps the connection open: framing must end the read
        finally:
            writer.close()
    return handle


def test_rtsp_options_and_describe(lb):
    async def work(port):
        return await RtspProbe().probe(lb.host(), port, lb.ctx(read_timeout=3.0))
    opts, desc = lb.run(rtsp_server(lb, {"OPTIONS": RTSP_OPTIONS, "DESCRIBE": RTSP_401}), work)
    assert opts.status is ProbeStatus.OK and opts.data["method"] == "OPTIONS"
    assert opts.data["headers"]["Server"] == "Dahua Rtsp Server"
    assert opts.data["public"] == ["OPTIONS", "DESCRIBE", "SETUP", "PLAY", "TEARDOWN"]
    assert desc.data["status"] == 401 and 'realm="Hikvision"' in desc.data["headers"]["WWW-Authenticate"]
    assert lb.request_lines()[1].startswith("DESCRIBE rtsp://127.0.0.1:")
    assert b"Authorization" not in b"".join(lb.requests)


def test_rtsp_port_answering_http_is_a_protocol_error(lb, answer):
    async def work(port):
        return await RtspProbe().probe(lb.host(), port, lb.ctx())
    obs = lb.run(lb.canned({}, default=answer("HTTP/1.1 405 Method Not Allowed", [])), work)
    assert obs[0].status is ProbeStatus.PROTOCOL_ERROR and obs[0].data["status"] == 405


HIK_SDK = bytes.fromhex("000000100000001e0000001e00000000")


def test_banner_sent_on_connect(lb):
    async def speak_first(reader, writer):
        writer.write(HIK_SDK)
        await writer.drain()
        await asyncio.sleep(5)

    async def work(port):
        return await BannerProbe().probe(lb.host(), port, lb.ctx())
    [obs] = lb.run(speak_first, work)
    assert obs.status is ProbeStatus.OK and obs.data == {
        "probe": "null", "hex": HIK_SDK.hex(), "text": HIK_SDK.decode().replace("\x00", "\ufffd"), "length": 16}  # NUL is no storable text


def test_silent_dvrip_port_gets_its_one_query(lb):
    received = []

    async def dvrip(reader, writer):
        received.append(await reader.readexactly(32))
        writer.write(b"\xb1\x00\x00\x58" + b"\x00" * 28)
        await writer.drain()
        await asyncio.sleep(5)

    async def work(port):
        return await BannerProbe(queries={port: ("dvrip", DVRIP_QUERY)}).probe(lb.host(), port, lb.ctx())
    [obs] = lb.run(dvrip, work)
    assert received == [DVRIP_QUERY]
    assert obs.status is ProbeStatus.OK and obs.data["probe"] == "dvrip"
    assert obs.data["hex"].startswith("b1000058")


def test_silent_banner_port_times_out(lb):
    async def silent(reader, writer):
        await asyncio.sleep(30)

    async def work(port):
        return await BannerProbe().probe(lb.host(), port, lb.ctx(read_timeout=0.3))
    [obs] = lb.run(silent, work)
    assert obs.status is ProbeStatus.TIMEOUT and "no bytes" in obs.error


def test_endless_banner_is_capped(lb):
    async def flood(reader, writer):
        try:
            while True:
                writer.write(b"\xff" * 65536)
                await writer.drain()
        except ConnectionError:
            pass

    async def work(port):
        return await BannerProbe().probe(lb.host(), port, lb.ctx())
    [obs] = lb.run(flood, work)
    assert obs.status is ProbeStatus.TOO_LARGE and len(bytes.fromhex(obs.data["hex"])) == 256


def test_complete_messages_end_the_read_without_the_linger_pause() -> None:
    assert complete_message(HIK_SDK)
    assert complete_message(b"\xb1\x00\x00\x58" + b"\x00" * 28)               # header, nothing after
    body = b"abcd"
    assert complete_message(b"\xb1\x00\x00\x58" + len(body).to_bytes(4, "little") + b"\x00" * 24 + body)
    assert not complete_message(b"\xb1\x00\x00\x58" + (4).to_bytes(4, "little") + b"\x00" * 24)  # body missing
    assert not complete_message(HIK_SDK[:8]) and not complete_message(b"") and not complete_message(b"SSH-2.0-x\r\n")


def test_read_ends_with_a_complete_dvrip_reply(lb):
    """Bytes sent after a complete reply, within the linger pause, are not waited for."""
    async def dvrip(reader, writer):
        await reader.readexactly(32)
        writer.write(b"\xb1\x00\x00\x58" + b"\x00" * 28)
        await writer.drain()
        await asyncio.sleep(LINGER * 0.75)
        writer.write(b"tail")  # the old read (pause-based) recorded these too: 36 bytes
        await writer.drain()
        await asyncio.sleep(5)

    async def work(port):
        return await BannerProbe(queries={port: ("dvrip", DVRIP_QUERY)}).probe(lb.host(), port, lb.ctx())
    [obs] = lb.run(dvrip, work)
    assert obs.status is ProbeStatus.OK and obs.data["length"] == 32

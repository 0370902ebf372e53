"""Each protocol responder answers as its persona file says (HTTP, TLS, RTSP, raw TCP, ONVIF
SOAP and WS-Discovery, SADP, DHIP, mDNS), talking to the shared lab from its scanner namespace."""

from __future__ import annotations

import json
import re
import struct
import uuid

import pytest

pytestmark = pytest.mark.lab

HIK, NVR, DAHUA, ROUTED = "198.18.0.10", "198.18.0.11", "198.18.0.20", "198.18.1.20"
MDNS_HIK, ONLY_2009 = "198.18.0.70", "198.18.0.73"
SADP_PROBE = ('<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>{}</Uuid><Types>inquiry</Types></Probe>')
WSD_2005 = ('<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
            'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><e:Header>'
            '<w:MessageID>uuid:{}</w:MessageID><w:To e:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>'
            '<w:Action e:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action>'
            '</e:Header><e:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></e:Body></e:Envelope>')
SOAP = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        '<s:Body xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><tds:{}/></s:Body></s:Envelope>')


def dhip_search() -> bytes:
    body = json.dumps({"method": "DHDiscover.search", "params": {"mac": "", "uni": 1}}).encode()
    return struct.pack("<I4s8sQQ", 0x20, b"DHIP", b"\0" * 8, len(body), len(body)) + body


def with_udp(lab, name: str, segment: str = "local") -> set[str]:
    """Devices whose responder for `name` answers normally (truth's `udp`; hostile ones that
    answer with raw bytes are left out, and their replies are ignored below)."""
    return {d["ip"] for d in lab.truth() if name in d["udp"] and d["segment"] == segment}


def normal_replies(lab, name: str, replies: list) -> list:
    expected = with_udp(lab, name)
    return [(data, addr) for data, addr in replies if addr[0] in expected]


def test_http_answers_per_path_with_exact_headers(probe) -> None:
    status, headers, body, head = probe.http(HIK, "/")
    assert status == 200 and headers["server"] == "App-webs/"
    assert head.startswith(b"HTTP/1.0 200 OK\r\nDate: ")
    assert b"/doc/page/login.asp" in body and int(headers["content-length"]) == len(body)
    status, headers, _, _ = probe.http(HIK, "/ISAPI/Security/userCheck")
    assert status == 401 and 'realm="IP Camera(G5821)"' in headers["www-authenticate"]
    assert re.search(r'nonce="[0-9a-f]{32}"', headers["www-authenticate"])
    status, _, _, _ = probe.http(HIK, "/no/such/page")
    assert status == 404
    # Dahua: upper-case header names, no Server header, a BOM before the doctype
    status, headers, body, head = probe.http(DAHUA, "/")
    assert status == 200 and b"\r\nCONNECTION: close\r\nCONTENT-LENGTH: " in head and "server" not in headers
    assert body.startswith("\ufeff<!DOCTYPE html".encode())
    status, _, body, _ = probe.http(DAHUA, "/RPC2_Login", method="POST", body=b'{"method":"global.login"}')
    assert status == 200 and json.loads(body)["params"]["realm"] == "Login to 5J01F2APAZ4E1B7"


def test_http_query_paths_and_routed_segment(probe) -> None:
    status, headers, _, _ = probe.http(DAHUA, "/cgi-bin/magicBox.cgi?action=getSystemInfo")
    assert status == 401 and "Login to 5J01F2APAZ4E1B7" in headers["www-authenticate"]
    status, headers, _, _ = probe.http(ROUTED, "/")
    assert status == 200 and headers["server"] == "App-webs/"


def test_tls_certificates_carry_the_persona_subject_and_issuer(probe) -> None:
    nvr = probe.certificate(NVR)
    assert nvr.subject.rfc4514_string() == "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"
    assert nvr.issuer == nvr.subject
    dahua = probe.certificate(DAHUA)
    assert dahua.subject.rfc4514_string() == f"CN={DAHUA}"
    assert "CN=Dahua Device NVR CA" in dahua.issuer.rfc4514_string()


def test_rtsp_answers_by_method_and_echoes_cseq(probe) -> None:
    options, describe = probe.rtsp(HIK, [b"OPTIONS rtsp://198.18.0.10/ RTSP/1.0\r\nCSeq: 7\r\n\r\n",
                                         b"DESCRIBE rtsp://198.18.0.10/ RTSP/1.0\r\nCSeq: 8\r\n\r\n"])
    assert options.startswith(b"RTSP/1.0 200 OK\r\nCSeq: 7\r\nPublic: OPTIONS")
    assert describe.startswith(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 8\r\n")
    assert re.search(rb'WWW-Authenticate: Digest realm="Hikvision", nonce="[0-9a-f]{32}", stale="FALSE"', describe)
    # without CSeq in the request, none in the answer (as nmap's probes expect)
    (bare,) = probe.rtsp(HIK, [b"OPTIONS / RTSP/1.0\r\n\r\n"])
    assert bare == b"RTSP/1.0 200 OK\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, PAUSE\r\n\r\n"
    answer = probe.request(DAHUA, 554, b"GET / HTTP/1.0\r\n\r\n")
    assert answer == b"RTSP/1.0 405 Method Not Allowed\r\nServer: Dahua Rtsp Server\r\nContent-Length: 0\r\nCSeq: 0\r\n\r\n"


def test_raw_tcp_banner_and_request_reply(probe) -> None:
    assert probe.request(HIK, 8000, b"", timeout=1) == bytes.fromhex("000000100000001e0000001e00000000")
    reply = probe.request(DAHUA, 37777, b"\xa1" + b"\0" * 31, timeout=1)
    assert reply.startswith(b"\xb1\x00\x00\x58") and len(reply) == 32


def test_onvif_soap_device_information_with_and_without_auth(probe) -> None:
    status, _, body, _ = probe.http(DAHUA, "/onvif/device_service", method="POST",
                                    body=SOAP.format("GetDeviceInformation").encode(),
                                    headers="Content-Type: application/soap+xml\r\n")
    assert status == 200 and b"<tds:Manufacturer>Dahua</tds:Manufacturer>" in body
    assert b"<tds:SerialNumber>5J01F2APAZ4E1B7</tds:SerialNumber>" in body
    status, _, body, _ = probe.http(HIK, "/onvif/device_service", method="POST",
                                    body=SOAP.format("GetDeviceInformation").encode())
    assert status == 400 and b"ter:NotAuthorized" in body
    status, _, body, _ = probe.http(HIK, "/onvif/device_service", method="POST",
                                    body=SOAP.format("GetSystemDateAndTime").encode())
    assert status == 200 and b"<tt:UTCDateTime>" in body


def test_ws_discovery_probe_gets_one_match_per_onvif_persona(probe, lab) -> None:
    message_id = str(uuid.uuid4())
    replies = normal_replies(lab, "onvif-wsd", probe.sweep(("239.255.255.250", 3702), WSD_2005.format(message_id).encode()))
    senders = {addr[0] for _, addr in replies}
    assert senders == with_udp(lab, "onvif-wsd")
    for data, (ip, _) in replies:
        text = data.decode()
        assert f"<wsa:RelatesTo>uuid:{message_id}</wsa:RelatesTo>" in text
        assert "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches" in text
        assert f"<wsdd:XAddrs>http://{ip}/onvif/device_service</wsdd:XAddrs>" in text
    dahua = next(d.decode() for d, (ip, _) in replies if ip == DAHUA)
    assert "onvif://www.onvif.org/name/Dahua" in dahua and "dn:NetworkVideoTransmitter tds:Device" in dahua


def test_ws_discovery_answers_the_2009_variant_in_kind(probe, lab) -> None:
    probe_2009 = (WSD_2005.replace("http://schemas.xmlsoap.org/ws/2004/08/addressing", "http://www.w3.org/2005/08/addressing")
                  .replace("http://schemas.xmlsoap.org/ws/2005/04/discovery", "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01"))
    replies = normal_replies(lab, "onvif-wsd2009", probe.sweep(("239.255.255.250", 3702), probe_2009.format(uuid.uuid4()).encode()))
    assert {a[0] for _, a in replies} == with_udp(lab, "onvif-wsd2009") == with_udp(lab, "onvif-wsd") | {ONLY_2009}
    assert all(b"http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/ProbeMatches" in d for d, _ in replies)


def test_a_2009_only_persona_ignores_the_2005_probe(probe) -> None:
    assert probe.sweep((ONLY_2009, 3702), WSD_2005.format(uuid.uuid4()).encode(), wait=0.5) == []


def test_mdns_legacy_unicast_query_gets_its_id_and_question_back(probe) -> None:
    """A query from a port other than 5353 (RFC 6762 §6.7): unicast answer to that port, the
    query's ID and question echoed, TTLs at most 10 s; SRV, TXT and A come as additionals."""
    question = b"\x04_CGI\x04_tcp\x05local\x00" + struct.pack("!HH", 12, 1)
    query = struct.pack("!HHHHHH", 0x1234, 0, 1, 0, 0, 0) + question
    [(data, (ip, port))] = probe.sweep((MDNS_HIK, 5353), query, wait=0.5)
    assert (ip, port) == (MDNS_HIK, 5353)
    ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data)
    assert (ident, flags & 0x8000, qd, an, ns, ar) == (0x1234, 0x8000, 1, 1, 0, 3)
    assert data[12:12 + len(question)] == question
    instance = b"\x26HIKVISION DS-2CD2955FWD-IS - 236280070\x04_CGI\x04_tcp\x05local\x00"
    assert instance in data and b"\x06path=/" in data and bytes([198, 18, 0, 70]) in data
    ttl_at = 12 + len(question) + len(b"\x04_CGI\x04_tcp\x05local\x00") + 4
    assert struct.unpack_from("!I", data, ttl_at)[0] <= 10


def test_mdns_responders_ignore_responses_and_unknown_names(probe) -> None:
    response = struct.pack("!HHHHHH", 0, 0x8400, 1, 0, 0, 0) + b"\x04_CGI\x04_tcp\x05local\x00" + struct.pack("!HH", 12, 1)
    assert probe.sweep(("224.0.0.251", 5353), response, wait=0.5) == []
    unknown = struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 0) + b"\x05_nope\x04_tcp\x05local\x00" + struct.pack("!HH", 12, 1)
    assert probe.sweep(("224.0.0.251", 5353), unknown, wait=0.5) == []


def test_sadp_inquiry_gets_probe_matches_unicast_and_on_the_group(probe, lab) -> None:
    probe_uuid = str(uuid.uuid4()).upper()
    replies = normal_replies(lab, "sadp", probe.sweep(("239.255.255.250", 37020), SADP_PROBE.format(probe_uuid).encode(),
                                                      listen_group="239.255.255.250"))
    local = with_udp(lab, "sadp")
    assert {a[0] for _, a in replies} == local
    hik = [d.decode() for d, (ip, _) in replies if ip == HIK]
    assert len(hik) == 2, "reply_to defaults to sender and multicast"
    assert f"<Uuid>{probe_uuid}</Uuid>" in hik[0] and "<DeviceSN>DS-2CD2043G2-I20220315AAWRJ12345678</DeviceSN>" in hik[0]
    assert "<MAC>c0-56-e3-10-00-10</MAC>" in hik[0] and f"<IPv4Address>{HIK}</IPv4Address>" in hik[0]
    lts = next(d.decode() for d, (ip, _) in replies if ip == "198.18.0.13")
    assert "<OEMInfo>LTS</OEMInfo>" in lts
    # the routed camera answers a unicast inquiry, through the router
    routed = probe.sweep((ROUTED, 37020), SADP_PROBE.format(probe_uuid).encode(), wait=1.0)
    assert [a[0] for _, a in routed] == [ROUTED]


def test_dhip_search_gets_notify_dev_info(probe, lab) -> None:
    replies = normal_replies(lab, "dhip", probe.sweep(("239.255.255.251", 37810), dhip_search()))
    assert {a[0] for _, a in replies} == with_udp(lab, "dhip")
    for data, _ in replies:
        assert data[4:8] == b"DHIP" and struct.unpack_from("<Q", data, 16)[0] == len(data) - 32
    infos = {ip: json.loads(d[32:]) for d, (ip, _) in replies}
    assert infos[DAHUA]["method"] == "client.notifyDevInfo"
    device = infos[DAHUA]["params"]["deviceInfo"]
    assert device["SerialNo"] == "5J01F2APAZ4E1B7" and device["IPv4Address"]["IPAddress"] == DAHUA
    assert infos["198.18.0.21"]["params"]["deviceInfo"]["Vendor"] == "Amcrest"


def test_responders_ignore_datagrams_that_are_not_requests(probe) -> None:
    assert probe.sweep(("239.255.255.250", 37020), b"<ProbeMatch><Types>inquiry</Types></ProbeMatch>", wait=0.5) == []
    assert probe.sweep(("239.255.255.251", 37810), b"DHIP garbage", wait=0.5) == []
    assert probe.sweep(("239.255.255.250", 3702), b"\xff\xfe not xml", wait=0.5) == []

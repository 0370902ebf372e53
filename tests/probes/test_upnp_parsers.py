"""The UPnP readers on hostile and real-shaped input: SSDP replies, LOCATION rules, descriptions.

Real-shaped inputs follow public captures (a Huawei gateway's search reply with
`SERVER: Linux UPnP/1.0 Huawei-ATP-IGD`, LOCATION on port 37215) and UDA 2.0's description
layout. The lab's SSDP responder is a pure function and is checked here too.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from camaudit.lab.server import ssdp as lab_ssdp
from camaudit.model import Datagram
from camaudit.probes import upnp
from camaudit.probes.upnp_description import (MAX_DEPTH, MAX_ELEMENTS, MAX_VALUE_CHARS, description_target,
                                               parse_description, parse_ssdp)

HUAWEI_REPLY = (b"HTTP/1.1 200 OK\r\nLOCATION: http://192.0.2.1:37215/upnpdev.xml\r\n"
                b"SERVER: Linux UPnP/1.0 Huawei-ATP-IGD\r\nCACHE-CONTROL: max-age=86500\r\nEXT:\r\n"
                b"ST: upnp:rootdevice\r\nUSN: uuid:2b38c15c-cb68-df90-3701-4f6df3dc9bb0::upnp:rootdevice\r\n\r\n")
DESCRIPTION = b"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>HG8245H</friendlyName><manufacturer>Huawei Technologies Co., Ltd.</manufacturer>
<modelName>HG8245H</modelName><serialNumber>4857</serialNumber><UDN>uuid:1</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<manufacturer>Embedded Maker</manufacturer><modelName>WAN</modelName></device></deviceList>
</device></root>"""


def test_ssdp_reply_headers_are_read_case_insensitively() -> None:
    reply = parse_ssdp(HUAWEI_REPLY.replace(b"SERVER:", b"Server:"))
    assert reply.status == 200
    assert reply.headers["SERVER"] == "Linux UPnP/1.0 Huawei-ATP-IGD"
    assert reply.headers["LOCATION"] == "http://192.0.2.1:37215/upnpdev.xml"
    assert reply.headers["EXT"] == ""


@pytest.mark.parametrize("data", [b"", b"NOTIFY * HTTP/1.1\r\n\r\n", b"M-SEARCH * HTTP/1.1\r\n\r\n",
                                  b"\x00\xff" * 100, b"HTTP/9.9 200 OK\r\n\r\n"])
def test_what_is_not_a_search_reply_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_ssdp(data)


def test_reply_headers_are_bounded() -> None:
    many = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 5000) for i in range(500))
    reply = parse_ssdp(many)
    assert len(reply.headers) <= 32 and all(len(v) <= MAX_VALUE_CHARS for v in reply.headers.values())


def test_merge_keeps_one_device_per_sender_and_its_first_failure() -> None:
    good = Datagram("192.0.2.1", 1900, HUAWEI_REPLY)
    flood = [Datagram("192.0.2.9", 1900, HUAWEI_REPLY.replace(b"uuid:", b"uuid:%d" % i)) for i in range(500)]
    bad = [Datagram("192.0.2.5", 1900, b"garbage"), Datagram("192.0.2.6", 1900, HUAWEI_REPLY[:100], truncated=True),
           Datagram("192.0.2.7", 1900, HUAWEI_REPLY.replace(b"200 OK", b"404 Not Found"))]
    devices = {d.ip: d for d in upnp.merge_replies([good, *flood, *bad])}
    assert devices["192.0.2.1"].server == "Linux UPnP/1.0 Huawei-ATP-IGD" and devices["192.0.2.1"].failure is None
    assert len(devices["192.0.2.9"].usn) == upnp.MAX_ITEMS     # 500 replies read 16, keep 16 USNs
    assert str(devices["192.0.2.5"].failure.status) == "protocol-error"
    assert str(devices["192.0.2.6"].failure.status) == "too-large"
    assert "status 404" in str(devices["192.0.2.7"].failure)
    obs = upnp.observation(devices["192.0.2.5"], None, {}, devices["192.0.2.5"].failure)
    assert obs.status == "protocol-error" and obs.data == {} and obs.port == 1900


@pytest.mark.parametrize("location, reason", [
    ("https://192.0.2.1/desc.xml", "not http"),
    ("http://192.0.2.2/desc.xml", "not the answering device"),
    ("http://gateway.lan/desc.xml", "not the answering device"),
    ("http://192.0.2.1.nip.io/desc.xml", "not the answering device"),
    ("http://user:pw@192.0.2.1/desc.xml", "credentials"),
    ("http://192.0.2.1:0/desc.xml", "port or path"),
    ("http://192.0.2.1:70000/desc.xml", "not a URL"),
    ("http://192.0.2.1/a b", "port or path"),
    ("http://192.0.2.1/" + "a" * 600, "port or path"),
    ("file:///etc/passwd", "not http"),
    ("", "not http"),
])
def test_location_rules(location: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        description_target(location, "192.0.2.1")


def test_location_of_the_device_itself_is_fetched_as_given() -> None:
    assert description_target("http://192.0.2.1:37215/upnpdev.xml", "192.0.2.1") == (37215, "/upnpdev.xml")
    assert description_target("HTTP://192.0.2.1/d?x=1", "192.0.2.1") == (80, "/d?x=1")


def test_description_fields_of_the_root_device_and_every_device_type() -> None:
    got = parse_description(DESCRIPTION)
    assert got == {"friendlyName": "HG8245H", "manufacturer": "Huawei Technologies Co., Ltd.",
                   "modelName": "HG8245H", "serialNumber": "4857", "UDN": "uuid:1",
                   "deviceTypes": ["urn:schemas-upnp-org:device:InternetGatewayDevice:1",
                                   "urn:schemas-upnp-org:device:WANDevice:1"]}


BOMB = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b"<root><device><manufacturer>&b;</manufacturer></device></root>")
XXE = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b"<root><device><manufacturer>&x;</manufacturer></device></root>")


@pytest.mark.parametrize("body, words", [
    (BOMB, "DTDForbidden"),
    (XXE, "DTDForbidden"),
    (b"<root>" + b"<device>" * (MAX_DEPTH + 5) + b"</device>" * (MAX_DEPTH + 5) + b"</root>", "nests deeper"),
    (b"<root>" + b"<x/>" * (MAX_ELEMENTS + 1) + b"</root>", "more than"),
    (b"<root><device><manufacturer>X", "rejected XML"),
    (b'<?xml version="1.0" encoding="x-unknown"?><root/>', "rejected XML"),
    (b"<html><body>not UPnP</body></html>", "no UPnP"),
    (b"", "rejected XML"),
])
def test_hostile_descriptions_are_refused(body: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_description(body)


def test_lab_responder_answers_searches_it_matches_and_nothing_else() -> None:
    headers = {"LOCATION": "http://{ip}:37215/upnpdev.xml", "SERVER": "Linux UPnP/1.0 Huawei-ATP-IGD",
               "ST": "upnp:rootdevice"}
    values = {"ip": "198.18.0.60"}
    answer = lab_ssdp.reply(upnp.search_message(), headers, values)
    assert answer is not None
    assert parse_ssdp(answer).headers["LOCATION"] == "http://198.18.0.60:37215/upnpdev.xml"
    assert lab_ssdp.reply(upnp.search_message().replace(b"upnp:rootdevice", b"ssdp:all"), headers, values)
    for other in (HUAWEI_REPLY, b"NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\n\r\n",
                  upnp.search_message().replace(b"upnp:rootdevice", b"urn:other:device:X:1"),
                  upnp.search_message().replace(b'"ssdp:discover"', b"ssdp:discover")):
        assert lab_ssdp.reply(other, headers, values) is None


def fetch(lb: Any, handler: Any, path: str = "/desc.xml", **bounds: Any) -> tuple[dict, Any]:
    """fetch_description of a device at 127.0.0.1 whose LOCATION names its own port."""
    async def work(port: int) -> tuple[dict, Any]:
        dev = upnp.Device(lb.ip, location=f"http://{lb.ip}:{port}{path}", server="x")
        return await upnp.fetch_description(dev, lb.ctx(**bounds))
    return lb.run(handler, work)


def test_description_fetch_reads_the_device_fields(lb: Any, answer: Any) -> None:
    data, failure = fetch(lb, lb.canned({"/desc.xml": answer("HTTP/1.1 200 OK", [], DESCRIPTION)}))
    assert failure is None and data["device"]["manufacturer"] == "Huawei Technologies Co., Ltd."
    assert lb.request_lines() == ["GET /desc.xml HTTP/1.1"]


def test_redirects_are_recorded_never_followed(lb: Any, answer: Any) -> None:
    moved = answer("HTTP/1.1 302 Found", [("Location", "/other.xml")])
    data, failure = fetch(lb, lb.canned({"/desc.xml": moved, "/other.xml": answer("HTTP/1.1 200 OK", [], DESCRIPTION)}))
    assert data == {"description_status": 302} and str(failure.status) == "protocol-error"
    assert lb.request_lines() == ["GET /desc.xml HTTP/1.1"]


def test_an_oversized_description_is_too_large_and_not_parsed(lb: Any, answer: Any) -> None:
    huge = DESCRIPTION.replace(b"<friendlyName>", b"<friendlyName>" + b"A" * (upnp.DESCRIPTION_MAX_BYTES + 1))
    data, failure = fetch(lb, lb.canned({"/desc.xml": answer("HTTP/1.1 200 OK", [], huge)}))
    assert data == {} and str(failure.status) == "too-large"


def test_a_dripping_description_costs_the_read_budget(lb: Any) -> None:
    async def drip(reader: Any, writer: Any) -> None:
        await lb.read_request(reader)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<root>":
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.2)
    data, failure = fetch(lb, drip, read_timeout=0.5)
    assert data == {} and str(failure.status) == "timeout"


def test_an_excluded_device_is_not_asked_even_with_a_valid_location(lb: Any) -> None:
    async def work(port: int) -> tuple[dict, Any]:
        dev = upnp.Device("127.0.0.2", location=f"http://127.0.0.2:{port}/desc.xml", server="x")
        return await upnp.fetch_description(dev, lb.ctx())   # the context permits 127.0.0.1 only
    data, failure = lb.run(lb.canned({}), work)
    assert failure is None and "excluded or not a target" in data["description_skipped"]
    assert lb.requests == []

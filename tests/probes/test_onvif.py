"""ONVIF: SOAP device service on loopback (incl. auth-required and hostile XML) and
WS-Discovery reply merging (split replies, floods, bombs)."""

from __future__ import annotations

import pytest

from camaudit.model import Datagram
from camaudit.observation import ProbeStatus
from camaudit.probes.onvif import (DEVICE_SERVICE, MAX_DATAGRAMS_PER_SENDER, MAX_ITEMS, OnvifSoapProbe,
                                  merge_replies, parse_xml, probe_message)
from camaudit.probes._io import ProbeFailure

ENV = ('<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope '
       'xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
       'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" '
       'xmlns:ter="http://www.onvif.org/ver10/error"><SOAP-ENV:Body>{}</SOAP-ENV:Body></SOAP-ENV:Envelope>')
TIME = ENV.format('<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:UTCDateTime>'
                  '<tt:Time><tt:Hour>4</tt:Hour><tt:Minute>5</tt:Minute><tt:Second>6</tt:Second></tt:Time>'
                  '<tt:Date><tt:Year>2026</tt:Year><tt:Month>11</tt:Month><tt:Day>28</tt:Day></tt:Date>'
                  '</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>')
INFO = ENV.format('<tds:GetDeviceInformationResponse><tds:Manufacturer>Dahua</tds:Manufacturer>'
                  '<tds:Model>IPC-HFW2228M-I1-V2</tds:Model><tds:FirmwareVersion>2.800.0000000.16.R</tds:FirmwareVersion>'
                  '<tds:SerialNumber>4M0000000000000</tds:SerialNumber><tds:HardwareId>1.00</tds:HardwareId>'
                  '</tds:GetDeviceInformationResponse>')
FAULT = ENV.format('<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>'
                   '<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:NotAuthorized</SOAP-ENV:Value></SOAP-ENV:Subcode>'
                   '</SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">Sender not Authorized'
                   '</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>')
BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><Envelope><Body>&lol3;</Body></Envelope>')
XXE = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       '<Envelope><Body><Manufacturer>&x;</Manufacturer></Body></Envelope>')


def soap_server(lb, answer, by_operation: dict[str, tuple[str, str]]):
    """Answer each SOAP operation (found in the request body) with (status line, XML)."""
    async def handle(reader, writer):
        try:
            req = await lb.read_request(reader)
            status, body = next((v for op, v in by_operation.items() if op.encode() in req),
                                ("HTTP/1.1 404 Not Found", ""))
            writer.write(answer(status, [("Content-Type", "application/soap+xml")], body.encode()))
            await writer.drain()
        finally:
            writer.close()
    return handle


def soap(lb, answer, by_operation):
    async def work(port):
        return await OnvifSoapProbe().probe(lb.host(), port, lb.ctx())
    [obs] = lb.run(soap_server(lb, answer, by_operation), work)
    return obs


def test_device_information_without_credentials(lb, answer):
    obs = soap(lb, answer, {"GetSystemDateAndTime": ("HTTP/1.1 200 OK", TIME),
                            "GetDeviceInformation": ("HTTP/1.1 200 OK", INFO)})
    assert obs.source == "onvif" and obs.status is ProbeStatus.OK
    assert obs.data["system_time"] == "2026-11-28T04:05:06Z"
    assert obs.data["device_info"] == {"manufacturer": "Dahua", "model": "IPC-HFW2228M-I1-V2",
                                       "firmware": "2.800.0000000.16.R", "serial": "4M0000000000000",
                                       "hardware_id": "1.00"}
    assert all(line.startswith(f"POST {DEVICE_SERVICE} ") for line in lb.request_lines())
    assert all(b"Security" not in r and b"Password" not in r for r in lb.requests)  # no WS-Security


@pytest.mark.parametrize("denial", [("HTTP/1.1 400 Bad Request", FAULT), ("HTTP/1.1 401 Unauthorized", "")])
def test_auth_required_is_a_recorded_outcome(lb, answer, denial):
    obs = soap(lb, answer, {"GetSystemDateAndTime": ("HTTP/1.1 200 OK", TIME), "GetDeviceInformation": denial})
    assert obs.status is ProbeStatus.OK
    assert obs.data["auth_required"] is True and "device_info" not in obs.data
    assert obs.data["system_time"] == "2026-11-28T04:05:06Z"


def test_no_device_service_is_a_protocol_error(lb, answer):
    obs = soap(lb, answer, {})
    assert obs.status is ProbeStatus.PROTOCOL_ERROR and "no ONVIF device service" in obs.error
    assert len(lb.requests) == 1   # GetDeviceInformation is not tried on a non-ONVIF server


@pytest.mark.parametrize("hostile", [BOMB, XXE])
def test_xml_bomb_and_external_entity_are_refused(lb, answer, hostile):
    obs = soap(lb, answer, {"GetSystemDateAndTime": ("HTTP/1.1 200 OK", hostile)})
    assert obs.status is ProbeStatus.PROTOCOL_ERROR and "rejected XML" in obs.error
    assert "root:" not in repr(obs.to_dict())


PROBE_MATCH = ('<?xml version="1.0" encoding="UTF-8"?><env:Envelope '
               'xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
               'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
               'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
               'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><env:Body><d:ProbeMatches><d:ProbeMatch>'
               '<wsa:EndpointReference><wsa:Address>urn:uuid:{epr}</wsa:Address></wsa:EndpointReference>'
               '<d:Types>{types}</d:Types><d:Scopes>{scopes}</d:Scopes><d:XAddrs>{xaddrs}</d:XAddrs>'
               '<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>')


def match(epr="1", types="dn:NetworkVideoTransmitter", scopes="", xaddrs="") -> bytes:
    return PROBE_MATCH.format(epr=epr, types=types, scopes=scopes, xaddrs=xaddrs).encode()


def test_replies_split_across_datagrams_merge_per_device():
    replies = [
        Datagram("198.18.0.30", 3702, match(scopes="onvif://www.onvif.org/name/Dahua "
                                                    "onvif://www.onvif.org/location/country/china",
                                            xaddrs="http://198.18.0.30/onvif/device_service")),
        Datagram("198.18.0.30", 3702, match(types="tds:Device",
                                            scopes="onvif://www.onvif.org/hardware/IPC-HFW2228M-I1-V2 "
                                                   "onvif://www.onvif.org/name/Dahua")),
        Datagram("198.18.0.31", 3702, match(epr="2", scopes="onvif://www.onvif.org/name/HIKVISION%20DS")),
    ]
    [dahua, hik] = [m.observation("onvif", None) for m in merge_replies(replies)]
    assert dahua.ip == "198.18.0.30" and dahua.port == 3702 and dahua.status is ProbeStatus.OK
    assert dahua.data["types"] == ["dn:NetworkVideoTransmitter", "tds:Device"]
    assert dahua.data["scopes"] == ["onvif://www.onvif.org/name/Dahua",
                                    "onvif://www.onvif.org/location/country/china",
                                    "onvif://www.onvif.org/hardware/IPC-HFW2228M-I1-V2"]
    assert dahua.data["xaddrs"] == ["http://198.18.0.30/onvif/device_service"]
    assert dahua.data["epr"] == "urn:uuid:1"
    assert hik.data["scopes"] == ["onvif://www.onvif.org/name/HIKVISION%20DS"]  # kept as sent


def test_hostile_discovery_replies_are_bounded_and_recorded():
    flood = [Datagram("198.18.0.40", 3702, match(scopes=f"onvif://x/{i}")) for i in range(1000)]
    many_scopes = " ".join(f"onvif://www.onvif.org/s/{i}" for i in range(10_000))
    replies = flood + [
        Datagram("198.18.0.41", 3702, BOMB.encode()),
        Datagram("198.18.0.42", 3702, b"\x00\xff garbage"),
        Datagram("198.18.0.43", 3702, match()[:100], truncated=True),
        Datagram("198.18.0.44", 3702, match(scopes=many_scopes)),
    ]
    obs = {o.ip: o for o in (m.observation("onvif", None) for m in merge_replies(replies))}
    assert len(obs["198.18.0.40"].data["scopes"]) == MAX_DATAGRAMS_PER_SENDER
    assert obs["198.18.0.41"].status is ProbeStatus.PROTOCOL_ERROR
    assert obs["198.18.0.42"].status is ProbeStatus.PROTOCOL_ERROR
    assert obs["198.18.0.43"].status is ProbeStatus.TOO_LARGE
    assert len(obs["198.18.0.44"].data["scopes"]) == MAX_ITEMS


def test_probe_message_is_parsable_ws_discovery():
    root = parse_xml(probe_message())
    text = probe_message().decode()
    assert root.tag.endswith("Envelope")
    assert "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe" in text
    assert "dn:NetworkVideoTransmitter" in text
    assert probe_message() != probe_message()   # a fresh MessageID each time


def test_parse_xml_refuses_dtds():
    with pytest.raises(ProbeFailure):
        parse_xml(b'<?xml version="1.0"?><!DOCTYPE a [<!ELEMENT a ANY>]><a/>')

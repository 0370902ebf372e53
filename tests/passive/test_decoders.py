"""Each passive decoder on frames built by scapy (the reference codec), and on hostile bytes.

Decoders must emit the active probes' `source` and `data` keys (so the shipped fingerprints
apply), keep nothing a search or a server says about someone else, and never raise.
"""

from __future__ import annotations

import random

import pytest
from scapy.all import (ARP, BOOTP, DHCP, DNS, DNSRR, IP, LLC, SNAP, SNMP, UDP, ASN1_OID, ASN1_STRING,
                       DNSRRSRV, Dot3, Ether, Raw, SNMPget, SNMPresponse, SNMPvarbind, load_contrib, raw)

from camaudit.passive.decode import FrameDecoder
from camaudit.passive.decoders import all_decoders
from camaudit.passive.decoders.base import Decoder
from camaudit.passive.packet import parse_frame
from camaudit.passive.tcp_decoder import StreamDecoder  # TCP decoders: garbage in tests/passive/test_tcp_streams.py
from camaudit.probes import dhip, sadp

load_contrib("lldp")
load_contrib("cdp")
from scapy.contrib.cdp import CDPAddrRecordIPv4, CDPMsgAddr, CDPMsgDeviceID, CDPMsgPlatform, CDPMsgSoftwareVersion, CDPv2_HDR  # noqa: E402
from scapy.contrib.lldp import (LLDPDUChassisID, LLDPDUEndOfLLDPDU, LLDPDUManagementAddress, LLDPDUPortID,  # noqa: E402
                                LLDPDUSystemCapabilities, LLDPDUSystemDescription, LLDPDUSystemName,
                                LLDPDUTimeToLive)

CAM_MAC, CAM_IP = "c0:56:e3:00:00:01", "198.18.0.50"
VRP = "Huawei Versatile Routing Platform Software\r\nVRP (R) software, Version 5.170 (S5720 V200R011C10SPC500)"


def decode(*frames: bytes) -> list:
    fd = FrameDecoder()
    return [obs for frame in frames for obs in fd.feed(1_700_000_000.0, frame, 1)] + fd.finish()


def udp(payload: bytes, sport: int, dport: int, src: str = CAM_IP, mac: str = CAM_MAC,
        dst: str = "239.255.255.250") -> bytes:
    return raw(Ether(src=mac) / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload)


def decoder(name: str) -> Decoder:
    return next(d for d in all_decoders() if d.name == name)


# --- ARP ---------------------------------------------------------------------------------

def test_arp_names_the_sender() -> None:
    frame = raw(Ether(src=CAM_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=CAM_MAC, psrc=CAM_IP, pdst="198.18.0.1"))
    [obs] = decode(frame)
    assert (obs.source, obs.ip, obs.mac, obs.port, obs.data) == ("arp", CAM_IP, CAM_MAC, None, {})


def test_arp_probes_and_bad_arp_are_not_bindings() -> None:
    probe = raw(Ether(src=CAM_MAC) / ARP(op=1, hwsrc=CAM_MAC, psrc="0.0.0.0", pdst=CAM_IP))
    group = raw(Ether(src=CAM_MAC) / ARP(op=2, hwsrc="01:00:5e:00:00:01", psrc=CAM_IP))
    short = raw(Ether(src=CAM_MAC, type=0x0806) / b"\x00\x01\x08\x00\x06\x04")
    other = raw(Ether(src=CAM_MAC) / ARP(hwtype=6, hwsrc=CAM_MAC, psrc=CAM_IP))
    assert decode(probe, group, short, other) == []


# --- DHCP --------------------------------------------------------------------------------

def dhcp_request(options: list, op: int = 1, sport: int = 68, dport: int = 67) -> bytes:
    return raw(Ether(src=CAM_MAC, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
               / UDP(sport=sport, dport=dport) / BOOTP(op=op, chaddr=bytes.fromhex(CAM_MAC.replace(":", "")))
               / DHCP(options=options))


def test_dhcp_request_fields() -> None:
    frame = dhcp_request([("message-type", "request"), ("hostname", "IPC-01"), ("vendor_class_id", "HIKVISION"),
                          ("param_req_list", [1, 3, 6, 15, 28]), ("client_id", b"\x01\xc0\x56\xe3\x00\x00\x01"),
                          ("requested_addr", CAM_IP), "end"])
    [obs] = decode(frame)
    assert (obs.source, obs.ip, obs.mac, obs.port) == ("dhcp", None, CAM_MAC, 67)
    assert obs.data == {"message_type": "REQUEST", "host_name": "IPC-01", "vendor_class": "HIKVISION",
                        "parameter_list": "1,3,6,15,28", "client_id": "01c056e3000001", "requested_ip": CAM_IP}


def test_dhcp_server_answers_are_not_the_client() -> None:
    offer = dhcp_request([("message-type", "offer"), ("vendor_class_id", "server-side"), "end"], op=2, sport=67, dport=68)
    assert decode(offer) == []


def test_dhcp_hostile_options_keep_what_came_before() -> None:
    good = raw(DHCP(options=[("hostname", "cam"), "end"]))[:-1]   # without the end option
    cut = b"\x3c\xff" + b"x" * 10                                   # vendor class claiming 255 bytes, 10 there
    bootp = raw(BOOTP(op=1, chaddr=bytes.fromhex("c056e3000001"))) + b"\x63\x82\x53\x63"   # header + magic cookie
    frame = udp(bootp + good + cut, 68, 67, src="0.0.0.0", dst="255.255.255.255")
    [obs] = decode(frame)
    assert obs.data == {"host_name": "cam"}
    pads = udp(bootp + b"\x00" * 5000, 68, 67, src="0.0.0.0", dst="255.255.255.255")   # options walk is capped
    no_cookie = udp(raw(BOOTP(op=1, chaddr=b"\x01" * 6))[:236] + b"JUNK", 68, 67)
    assert [o.data for o in decode(pads)] == [{}] and decode(no_cookie) == []


# --- LLDP / CDP --------------------------------------------------------------------------

def lldp_frame(description: str = VRP) -> bytes:
    return raw(Ether(src="00:25:9e:00:00:02", dst="01:80:c2:00:00:0e")
               / LLDPDUChassisID(subtype=4, id="00:25:9e:00:00:01") / LLDPDUPortID(subtype=5, id="GE0/0/1")
               / LLDPDUTimeToLive(ttl=120) / LLDPDUSystemName(system_name="core-sw")
               / LLDPDUSystemDescription(description=description)
               / LLDPDUSystemCapabilities(mac_bridge_available=1, mac_bridge_enabled=1, router_available=1, router_enabled=1)
               / LLDPDUManagementAddress(management_address_subtype=1, management_address=bytes([198, 18, 0, 9]),
                                         interface_numbering_subtype=2, interface_number=1)
               / LLDPDUEndOfLLDPDU())


def test_lldp_fields() -> None:
    [obs] = decode(lldp_frame())
    assert (obs.source, obs.ip, obs.mac) == ("lldp", "198.18.0.9", "00:25:9e:00:00:01")
    assert obs.data == {"chassis_id": "00:25:9e:00:00:01", "port_id": "GE0/0/1", "sys_name": "core-sw",
                        "sys_descr": VRP, "capabilities": ["bridge", "router"], "mgmt_addresses": ["198.18.0.9"]}


def test_lldp_hostile() -> None:
    frame = lldp_frame()
    not_chassis_first = frame[:14] + b"\x0a\x03abc" + frame[14:]
    cut = frame[:60]                                                   # ends inside the system description
    flood = frame[:14] + frame[14:23] + b"\x0a\x00" * 10_000            # 10,000 empty system-name TLVs
    assert decode(not_chassis_first) == []
    [partial] = decode(cut)
    assert partial.data["chassis_id"] == "00:25:9e:00:00:01" and "sys_descr" not in partial.data
    [capped] = decode(flood)
    assert capped.data["sys_name"] == ""


def cdp_frame(*msgs: object, extra: bytes = b"") -> bytes:
    """A CDP frame; `extra` bytes follow the TLVs scapy encodes (inside the 802.3 length)."""
    return raw(Dot3(src="00:e0:fc:00:00:07", dst="01:00:0c:cc:cc:cc") / LLC() / SNAP() / CDPv2_HDR(msg=list(msgs))
               / Raw(extra))


def test_cdp_fields() -> None:
    frame = cdp_frame(CDPMsgDeviceID(val=b"sw1"), CDPMsgSoftwareVersion(val=b"Cisco IOS Software, C2960 Software"),
                      CDPMsgPlatform(val=b"cisco WS-C2960-24TT-L"), CDPMsgAddr(addr=[CDPAddrRecordIPv4(addr="198.18.0.8")]))
    [obs] = decode(frame)
    assert (obs.source, obs.ip, obs.mac) == ("cdp", "198.18.0.8", "00:e0:fc:00:00:07")
    assert obs.data == {"device_id": "sw1", "software_version": "Cisco IOS Software, C2960 Software",
                        "platform": "cisco WS-C2960-24TT-L", "addresses": ["198.18.0.8"]}


def test_cdp_hostile() -> None:
    zero_length_tlv = cdp_frame(CDPMsgDeviceID(val=b"sw1"), extra=b"\x00\x06\x00\x00" * 50)   # would never advance
    absurd_addresses = cdp_frame(CDPMsgDeviceID(val=b"sw1"), extra=b"\x00\x02\x00\x08\xff\xff\xff\xff")
    stp = raw(Dot3(src="00:e0:fc:00:00:07", dst="01:80:c2:00:00:00") / LLC(dsap=0x42, ssap=0x42) / (b"\x00" * 35))
    assert [o.data for o in decode(zero_length_tlv)] == [{"device_id": "sw1"}]
    assert decode(absurd_addresses)[0].data["addresses"] == []
    assert decode(stp) == []


# --- SNMP --------------------------------------------------------------------------------

def snmp_frame(pdu: object, community: str = "s3cret-community", version: int = 1) -> bytes:
    return udp(raw(SNMP(version=version, community=community, PDU=pdu)), 161, 40000, dst="198.18.0.1")


def test_snmp_response_fields_without_the_community() -> None:
    pdu = SNMPresponse(id=7, varbindlist=[SNMPvarbind(oid="1.3.6.1.2.1.1.1.0", value=ASN1_STRING(VRP)),
                                          SNMPvarbind(oid="1.3.6.1.2.1.1.2.0", value=ASN1_OID("1.3.6.1.4.1.2011.2.23.1")),
                                          SNMPvarbind(oid="1.3.6.1.2.1.1.5.0", value=ASN1_STRING("core-sw"))])
    [obs] = decode(snmp_frame(pdu))
    assert (obs.source, obs.ip, obs.port) == ("snmp", CAM_IP, 161)
    assert obs.data == {"version": "2c", "sys_descr": VRP, "sys_object_id": "1.3.6.1.4.1.2011.2.23.1", "sys_name": "core-sw"}
    assert "s3cret" not in obs.to_json()
    [v1] = decode(snmp_frame(pdu, version=0))
    assert v1.data["version"] == "1"


def test_snmp_requests_and_hostile_lengths() -> None:
    request = udp(raw(SNMP(community="x", PDU=SNMPget(varbindlist=[SNMPvarbind(oid="1.3.6.1.2.1.1.1.0")]))),
                  40000, 161)
    absurd = udp(b"\x30\x84\x7f\xff\xff\xff\x02\x01\x01", 161, 40000)
    deep = udp(b"\x30\x82\x01\x00" + b"\x30\x80" * 200, 161, 40000)
    snmp = decoder("snmp")
    for frame in (request, absurd, deep):
        pkt = parse_frame(0.0, frame, 1)
        assert pkt is not None and list(snmp.feed(pkt)) == []
    assert snmp.unreadable == 2


# --- mDNS --------------------------------------------------------------------------------

def test_mdns_response_has_the_probe_keys() -> None:
    instance = "HIKVISION DS-2CD2043G2-I - 12345678._CGI._tcp.local"
    answer = DNS(qr=1, aa=1, an=[DNSRR(rrname="_CGI._tcp.local", type="PTR", rdata=instance),
                                 DNSRRSRV(rrname=instance, port=80, target="DS-2CD2043G2-I12345678.local")])
    [obs] = decode(udp(raw(answer), 5353, 5353, dst="224.0.0.251"))
    assert obs.source == "mdns" and obs.port == 5353
    assert obs.data["services"] == [{"instance": "HIKVISION DS-2CD2043G2-I - 12345678", "type": "_CGI._tcp",
                                     "port": 80, "host": "DS-2CD2043G2-I12345678.local"}]
    assert set(obs.data) == {"services", "types", "hostnames", "addresses"}


def test_mdns_compression_loop_and_queries_are_not_kept() -> None:
    header = b"\x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x00"
    loop = header + b"\xc0\x0c" + b"\x00\x01\x00\x01\x00\x00\x00\x78\x00\x04\xc6\x12\x00\x32"   # name points at itself
    query = raw(DNS(qr=0))
    mdns = decoder("mdns")
    for payload in (loop, query):
        pkt = parse_frame(0.0, udp(payload, 5353, 5353, dst="224.0.0.251"), 1)
        assert pkt is not None and list(mdns.feed(pkt)) == []
    assert mdns.unreadable == 1


# --- SSDP, WS-Discovery, SADP, DHIP --------------------------------------------------------

NOTIFY = (b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
          b"LOCATION: http://198.18.0.50:49152/rootDesc.xml\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n"
          b"SERVER: Linux UPnP/1.0 Huawei-ATP-IGD\r\nUSN: uuid:1234::upnp:rootdevice\r\n\r\n")


def test_ssdp_notify_and_response_without_fetching_the_description() -> None:
    response = NOTIFY.replace(b"NOTIFY * HTTP/1.1", b"HTTP/1.1 200 OK").replace(b"NT:", b"ST:")
    notify_obs = decode(udp(NOTIFY, 1900, 1900))
    response_obs = decode(udp(response, 1900, 40000, dst="198.18.0.1"))
    for [obs] in (notify_obs, response_obs):
        assert obs.source == "upnp" and obs.port == 1900
        assert obs.data == {"server": "Linux UPnP/1.0 Huawei-ATP-IGD", "location": "http://198.18.0.50:49152/rootDesc.xml",
                            "st": ["upnp:rootdevice"], "usn": ["uuid:1234::upnp:rootdevice"]}


def test_ssdp_searches_and_garbage_are_not_kept() -> None:
    search = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\n\r\n"
    assert decode(udp(search, 40000, 1900), udp(b"\xff" * 200, 1900, 1900), udp(b"NOTIFY * HTTP/1.1", 1900, 1900),
                  udp(b"HTTP/1.1 404 Not Found\r\n\r\n", 1900, 1900)) == []


HELLO = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
         'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
         '<s:Body><d:Hello><a:EndpointReference><a:Address>urn:uuid:1</a:Address></a:EndpointReference>'
         '<d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>onvif://www.onvif.org/name/HIKVISION '
         'onvif://www.onvif.org/hardware/DS-2CD2043G2-I</d:Scopes><d:XAddrs>http://198.18.0.50/onvif/device_service</d:XAddrs>'
         '</d:Hello></s:Body></s:Envelope>').encode()


def test_ws_discovery_hello_and_probe_match() -> None:
    match = HELLO.replace(b"d:Hello>", b"d:ProbeMatch>")
    for payload in (HELLO, match):
        [obs] = decode(udp(payload, 3702, 3702))
        assert obs.source == "onvif" and obs.port == 3702
        assert obs.data == {"epr": "urn:uuid:1", "types": ["dn:NetworkVideoTransmitter"],
                            "scopes": ["onvif://www.onvif.org/name/HIKVISION", "onvif://www.onvif.org/hardware/DS-2CD2043G2-I"],
                            "xaddrs": ["http://198.18.0.50/onvif/device_service"]}


def test_ws_discovery_hostile_xml_is_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            b"<Hello>&lol2;</Hello>")
    probe = HELLO.replace(b"d:Hello>", b"d:Probe>")
    wsd = decoder("onvif")
    for payload in (bomb, probe, b"<a>" * 5000, b"\x00garbage"):
        pkt = parse_frame(0.0, udp(payload, 3702, 3702), 1)
        assert pkt is not None and list(wsd.feed(pkt)) == []
    assert wsd.unreadable == 3


def test_sadp_and_dhip_answers_match_the_probe_parsers() -> None:
    sadp_reply = (b'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>1</Uuid><Types>inquiry</Types>'
                  b"<DeviceType>138753</DeviceType><DeviceDescription>DS-2CD2043G2-I</DeviceDescription>"
                  b"<MAC>c0-56-e3-00-00-01</MAC></ProbeMatch>")
    dhip_reply = dhip.frame(b'{"method":"client.notifyDevInfo","params":{"deviceInfo":{"DeviceType":"IPC-HFW2431S",'
                            b'"SerialNo":"5J01","Vendor":"Dahua"}}}')
    [s] = decode(udp(sadp_reply, 37020, 37020))
    [d] = decode(udp(dhip_reply, 37810, 37810, dst="239.255.255.251"))
    assert (s.source, s.port, s.data) == ("sadp", 37020, {"fields": sadp.parse_fields(sadp_reply)})
    assert (d.source, d.port, d.data["fields"]["DeviceType"]) == ("dhip", 37810, "IPC-HFW2431S")
    searches = [udp(sadp.inquiry("1"), 37020, 37020), udp(dhip.frame(dhip.SEARCH), 37810, 37810)]
    assert decode(*searches) == []


# --- every decoder against garbage ------------------------------------------------------------

PORTS = {"dhcp": (68, 67), "mdns": (5353, 5353), "upnp": (1900, 1900), "onvif": (3702, 3702),
         "sadp": (37020, 37020), "dhip": (37810, 37810), "snmp": (161, 40000)}


@pytest.mark.parametrize("name", sorted(d.name for d in all_decoders() if not isinstance(d, StreamDecoder)))
def test_garbage_never_raises(name: str) -> None:
    rng = random.Random(name)
    dec = decoder(name)
    for n in range(400):
        blob = rng.randbytes(rng.randrange(0, 600))
        if name == "arp":
            frame = raw(Ether(src=CAM_MAC, type=0x0806)) + b"\x00\x01\x08\x00\x06\x04" + blob
        elif name == "lldp":
            frame = raw(Ether(src=CAM_MAC, type=0x88CC)) + b"\x02\x07\x04" + blob
        elif name == "cdp":
            frame = bytes(6) + bytes.fromhex(CAM_MAC.replace(":", "")) + (8 + len(blob)).to_bytes(2, "big") \
                + b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + blob
        else:
            sport, dport = PORTS[name]
            frame = udp(blob if n % 2 else raw(BOOTP(op=1)) + b"\x63\x82\x53\x63" + blob, sport, dport)
        pkt = parse_frame(0.0, frame, 1)
        assert pkt is not None and dec.wants(pkt)
        for obs in dec.feed(pkt):
            obs.to_json()


def test_a_heard_lldp_description_identifies_the_vendor(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from camaudit.cli import main
    [obs] = decode(lldp_frame())
    path = tmp_path / "heard.jsonl"
    path.write_text(obs.to_json() + "\n")
    result = CliRunner().invoke(main, ["match", str(path)])
    [ident] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (ident["vendor"], ident["model"], ident["firmware"]) == ("Huawei", "S5720", "V200R011C10SPC500")
    assert ident["flagged"] and result.exit_code == 1

"""SADP, DHIP and nmap XML parsers: fields come out, hostile input becomes a status, never a crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camaudit.imports import nmap_xml
from camaudit.model import Datagram
from camaudit.observation import ProbeStatus
from camaudit.probes import dhip, sadp

SADP_REPLY = (b'<?xml version="1.0" encoding="UTF-8" ?><ProbeMatch><Uuid>5A2B</Uuid><Types>inquiry_reply</Types>'
              b'<DeviceType>139</DeviceType><DeviceDescription>DS-2CD2143G0-I</DeviceDescription>'
              b'<DeviceSN>DS-2CD2143G0-I20190101AAWRD12345678</DeviceSN><MAC>c0-56-e3-12-34-56</MAC>'
              b'<SoftwareVersion>V5.5.0build 170725</SoftwareVersion><OEMInfo>N/A</OEMInfo></ProbeMatch>')


def test_sadp_fields() -> None:
    obs = sadp.observation(Datagram("198.18.0.23", 37020, SADP_REPLY))
    assert obs.status == ProbeStatus.OK
    assert obs.mac == "c0:56:e3:12:34:56"
    assert obs.data["fields"]["DeviceDescription"] == "DS-2CD2143G0-I"
    assert obs.data["fields"]["SoftwareVersion"] == "V5.5.0build 170725"


@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><ProbeMatch>&b;</ProbeMatch>',
    b"<ProbeMatch><MAC>",
    b"\x00\xff garbage",
    b"<Probe><Types>inquiry</Types></Probe>",
])
def test_sadp_hostile(payload: bytes) -> None:
    obs = sadp.observation(Datagram("198.18.0.23", 37020, payload))
    assert obs.status == ProbeStatus.PROTOCOL_ERROR and obs.error


def test_dhip_roundtrip_frame_and_fields() -> None:
    body = json.dumps({"mac": "3c:ef:8c:01:02:03", "method": "client.notifyDevInfo",
                       "params": {"deviceInfo": {"DeviceType": "IPC-HFW2431S", "Vendor": "Amcrest",
                                                 "SerialNo": "ABC123", "Version": "2.800",
                                                 "IPv4Address": {"IPAddress": "198.18.0.30"}}}}).encode()
    obs = dhip.observation(Datagram("198.18.0.30", 37810, dhip.frame(body)))
    assert obs.status == ProbeStatus.OK and obs.mac == "3c:ef:8c:01:02:03"
    assert obs.data["fields"]["Vendor"] == "Amcrest"
    assert obs.data["fields"]["IPv4Address"] == {"IPAddress": "198.18.0.30"}
    header = dhip.frame(dhip.SEARCH)[:32]
    assert header[:8] == b" \x00\x00\x00DHIP" and header[8:16] == bytes(8)


@pytest.mark.parametrize("payload", [b"short", b"\x20\x00\x00\x00XXXX" + bytes(24),
                                     dhip.frame(b"not json"), dhip.frame(b'{"method":"x"}'),
                                     dhip.frame(b"[1,2]")])
def test_dhip_hostile(payload: bytes) -> None:
    assert dhip.observation(Datagram("198.18.0.30", 37810, payload)).status == ProbeStatus.PROTOCOL_ERROR


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_sweep_parsers_never_raise(data: bytes) -> None:
    for parse in (sadp.observation, dhip.observation):
        obs = parse(Datagram("198.18.0.5", 1, data))
        assert obs.status in (ProbeStatus.OK, ProbeStatus.PROTOCOL_ERROR)
    obs = dhip.observation(Datagram("198.18.0.5", 1, dhip.frame(data)))
    assert obs.status in (ProbeStatus.OK, ProbeStatus.PROTOCOL_ERROR)


NMAP_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -n -sV -oX - 198.18.0.0/24" version="7.93">
<host><status state="up" reason="arp-response"/>
<address addr="198.18.0.23" addrtype="ipv4"/><address addr="C0:56:E3:12:34:56" addrtype="mac" vendor="Hangzhou Hikvision Digital Technology"/>
<ports><port protocol="tcp" portid="80"><state state="open"/><service name="http" product="Hikvision IP camera httpd" devicetype="webcam" method="probed" conf="10"><cpe>cpe:/h:hikvision:ip_camera</cpe></service></port>
<port protocol="tcp" portid="443"><state state="closed"/></port></ports></host>
<host><status state="down"/><address addr="198.18.0.24" addrtype="ipv4"/></host>
<host><status state="up"/><address addr="198.18.1.9" addrtype="ipv4"/></host>
</nmaprun>"""


def test_nmap_import(tmp_path) -> None:
    path = tmp_path / "scan.xml"
    path.write_bytes(NMAP_XML)
    obs = list(nmap_xml.read_file(path))
    assert [(o.source, o.ip, o.mac, o.port) for o in obs] == [
        ("arp", "198.18.0.23", "c0:56:e3:12:34:56", None),
        ("nmap", "198.18.0.23", "c0:56:e3:12:34:56", 80)]
    assert obs[1].data == {"service": "http", "product": "Hikvision IP camera httpd",
                           "devicetype": "webcam", "cpe": ["cpe:/h:hikvision:ip_camera"]}


@pytest.mark.parametrize("doc,reason", [
    (b'<?xml version="1.0"?><!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]><nmaprun>&x;</nmaprun>', "refused"),
    (b'<?xml version="1.0"?><!DOCTYPE n [<!ENTITY a "a"><!ENTITY b "&a;&a;&a;">]><nmaprun>&b;</nmaprun>', "refused"),
    (b"<html><body>no</body></html>", "not nmap XML"),
    (b"<nmaprun><host>", "malformed"),
])
def test_nmap_import_refuses_hostile_xml(tmp_path, doc: bytes, reason: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(doc)
    with pytest.raises(nmap_xml.NmapXmlError, match=reason):
        list(nmap_xml.read_file(path))


@pytest.mark.fuzz
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"", b"<nmaprun>", b'<?xml version="1.0"?><nmaprun><host>']))
def test_nmap_xml_fails_only_with_its_own_error(data: bytes, prefix: bytes) -> None:
    import io

    try:
        hosts = list(nmap_xml.iter_hosts(io.BytesIO(prefix + data)))
    except nmap_xml.NmapXmlError:
        return
    for obs in nmap_xml.observations(hosts):
        assert obs.ip or obs.mac


def test_nmap_host_with_unreadable_mac_and_no_ip_is_skipped(tmp_path) -> None:
    path = tmp_path / "odd.xml"
    path.write_bytes(b'<nmaprun><host><status state="up"/><address addr="zz:zz" addrtype="mac"/>'
                     b'<ports><port protocol="tcp" portid="80"><state state="open"/></port></ports></host>'
                     b'<host><status state="up"/><address addr="198.18.0.9" addrtype="ipv4"/>'
                     b'<address addr="not-a-mac" addrtype="mac"/></host></nmaprun>')
    assert [(o.source, o.ip, o.mac) for o in nmap_xml.read_file(path)] == []


def test_nmap_ports_after_an_element_that_is_dropped_are_kept() -> None:
    """iterparse reports an end event after it has already parsed ahead: the `<port>` behind
    a dropped `<extraports>` must not be detached in its place (nmap writes extraports
    first whenever some ports are closed)."""
    from camaudit.imports.nmap_xml import read_bytes

    doc = (b'<?xml version="1.0"?><nmaprun><host><status state="up"/>'
           b'<address addr="198.18.0.5" addrtype="ipv4"/><hostnames/>'
           b'<ports><extraports state="closed" count="3"><extrareasons reason="reset" count="3"/></extraports>'
           b'<port protocol="tcp" portid="80"><state state="open"/><service name="http"/></port>'
           b'<port protocol="tcp" portid="554"><state state="open"/></port></ports>'
           b'<times srtt="1"/></host></nmaprun>')
    [host] = read_bytes(doc)
    assert [p.port for p in host.ports] == [80, 554]
    assert host.ports[0].data == {"service": "http"}


def test_nmap_host_opinions_are_bounded_and_odd_accuracies_do_not_crash() -> None:
    """Host names, OS matches and classes are capped per host; a non-numeric accuracy is a
    guess without an accuracy, not a crash; only the best accuracy is kept."""
    many_names = "".join(f'<hostname name="h{i}.example.net" type="PTR"/>' for i in range(500))
    classes = "".join(f'<osclass vendor="V{i}" osfamily="embedded" accuracy="100"><cpe>cpe:/h:v{i}:x</cpe></osclass>'
                      for i in range(100))
    matches = "".join(f'<osmatch name="{"N" * 5000}{i}" accuracy="100" line="1">{classes}</osmatch>' for i in range(50))
    doc = (f'<nmaprun><host><status state="up"/><address addr="198.18.0.5" addrtype="ipv4"/>'
           f'<hostnames>{many_names}</hostnames><os><osmatch name="low" accuracy="99" line="2"/>{matches}'
           f'<osmatch name="odd" accuracy="ninety" line="3"/></os></host>'
           f'<host><status state="up"/><address addr="198.18.0.6" addrtype="ipv4"/>'
           f'<os><osmatch name="odd" accuracy="ninety" line="3"><osclass vendor="Huawei" osfamily="VRP" accuracy="?"/>'
           f'</osmatch></os></host></nmaprun>').encode()
    first, second = nmap_xml.read_bytes(doc)
    assert len(first.hostnames) == nmap_xml.MAX_HOSTNAMES
    assert len(first.osmatch) == nmap_xml.MAX_OS_MATCHES
    assert {m["accuracy"] for m in first.osmatch} == {100}
    assert all(len(m["osclass"]) == nmap_xml.MAX_OS_CLASSES and len(m["name"]) == nmap_xml.MAX_VALUE_CHARS
               for m in first.osmatch)
    assert second.osmatch == [{"name": "odd", "osclass": [{"vendor": "Huawei", "osfamily": "VRP"}]}]


# Crashes and misreports hostile input found, pinned so they stay fixed: each failed before
# its fix (RecursionError out of the DHIP sweep, an nmap host with no usable address raising
# out of the import, a reply cut at the datagram cap reported as malformed, not too large).

def test_deeply_nested_dhip_json_is_a_protocol_error_not_a_crash() -> None:
    body = b'{"method":"client.notifyDevInfo","params":{"deviceInfo":' + b"[" * 7000
    obs = dhip.observation(Datagram("198.18.0.208", dhip.PORT, dhip.frame(body)))
    assert obs.status is ProbeStatus.PROTOCOL_ERROR
    assert "nests too deeply" in (obs.error or "")


def test_nmap_host_without_address_or_readable_mac_is_skipped() -> None:
    xml = (b'<nmaprun><host><status state="up"/><address addrtype="mac" addr="zz:zz"/>'
           b'<ports><port protocol="tcp" portid="80"><state state="open"/></port></ports></host>'
           b'<host><address addrtype="ipv4" addr="198.18.0.9"/>'
           b'<ports><port protocol="tcp" portid="554"><state state="open"/></port></ports></host></nmaprun>')
    got = list(nmap_xml.observations(nmap_xml.read_bytes(xml)))
    assert [(o.ip, o.port) for o in got] == [("198.18.0.9", 554)]


def test_sadp_reply_cut_at_the_cap_is_too_large() -> None:
    full = b'<?xml version="1.0"?><ProbeMatch><DeviceDescription>' + b"A" * 60000
    obs = sadp.observation(Datagram("198.18.0.205", sadp.PORT, full[:16384], truncated=True))
    assert obs.status is ProbeStatus.TOO_LARGE and "datagram cap" in (obs.error or "")


def test_dhip_reply_cut_at_the_cap_is_too_large() -> None:
    data = dhip.frame(b'{"params":{"deviceInfo":{"Vendor":"' + b"A" * 60000 + b'"}}}')
    obs = dhip.observation(Datagram("198.18.0.209", dhip.PORT, data[:16384], truncated=True))
    assert obs.status is ProbeStatus.TOO_LARGE


def test_untruncated_garbage_is_still_a_protocol_error() -> None:
    """The too-large rule applies only to cut replies: a short malformed one says malformed."""
    assert sadp.observation(Datagram("198.18.0.206", sadp.PORT, b"<ProbeMatch><\xff")).status \
        is ProbeStatus.PROTOCOL_ERROR
    assert dhip.observation(Datagram("198.18.0.209", dhip.PORT, dhip.frame(b"\xff{"))).status \
        is ProbeStatus.PROTOCOL_ERROR


def test_unknown_xml_encoding_is_a_protocol_error_for_that_sender_only() -> None:
    """Found by tests/fuzz: expat raises LookupError for `encoding="bogus"`, which escaped
    parse_xml and aborted the whole WS-Discovery sweep (every camera's answer lost)."""
    from camaudit.probes.onvif import merge_replies

    good = (b'<?xml version="1.0"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>'
            b"<ProbeMatches><ProbeMatch><Types>dn:NetworkVideoTransmitter</Types></ProbeMatch></ProbeMatches>"
            b"</e:Body></e:Envelope>")
    bad = b'<?xml version="1.0" encoding="x-bogus"?><ProbeMatches/>'
    got = {m.ip: m.observation("onvif", None) for m in merge_replies(
        [Datagram("198.18.0.220", 3702, bad), Datagram("198.18.0.10", 3702, good)])}
    assert got["198.18.0.220"].status is ProbeStatus.PROTOCOL_ERROR
    assert got["198.18.0.10"].status is ProbeStatus.OK and got["198.18.0.10"].data["types"]


def test_arp_request_frame_equals_scapys_byte_for_byte() -> None:
    """The hand-packed who-has frame is exactly what scapy builds for the same fields."""
    from scapy.layers.l2 import ARP, Ether

    from camaudit.discovery.arp import request_template

    for mac, ip in (("02:00:5e:00:00:01", "198.18.0.1"), ("AA-BB-CC-DD-EE-FF", "198.19.0.1")):
        want = bytes(Ether(src=mac.replace("-", ":").lower(), dst="ff:ff:ff:ff:ff:ff", type=0x0806)
                     / ARP(op=1, hwsrc=mac.replace("-", ":").lower(), psrc=ip,
                           hwdst="00:00:00:00:00:00", pdst="0.0.0.0"))
        assert request_template(mac, ip) == want


def test_arp_request_frame_refuses_a_malformed_mac() -> None:
    import pytest

    from camaudit.discovery.arp import request_template

    for bad in ("02:00:5e:00:00", "02:00:5e:00:00:01:02", "zz:00:5e:00:00:01"):
        with pytest.raises(ValueError):
            request_template(bad, "198.18.0.1")

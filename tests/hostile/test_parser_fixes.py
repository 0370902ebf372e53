"""Crashes and misreports that hostile input found in parsers, pinned so they stay fixed.

Each test failed before its fix: a DHIP body nested deeper than the JSON decoder's recursion
limit raised RecursionError out of the sweep (losing every device's DHIP answer), an nmap host
with neither an address nor a readable MAC raised out of the import, and a SADP/DHIP reply cut
at the datagram cap was reported as malformed instead of too large.
"""

from __future__ import annotations

from camaudit.imports import nmap_xml
from camaudit.model import Datagram
from camaudit.observation import ProbeStatus
from camaudit.probes import dhip, sadp


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


"""ONVIF: WS-Discovery (multicast sweep + unicast to routed hosts) and two pre-auth SOAP calls.

* `WsDiscoveryProbe` sends the WS-Discovery Probe for `dn:NetworkVideoTransmitter` in both
  dialects (2005/04 and OASIS 1.1, 2009/01) to 239.255.255.250:3702 through
  `ProbeContext.ask`, repeated because multicast is lossy,
  and unicast to the hosts the engine gives it (those found without a MAC: routed segments,
  which multicast does not reach). ProbeMatches are merged per sender (one device may answer
  in several datagrams: per round, per service), bounded against floods.
* `OnvifSoapProbe` POSTs GetSystemDateAndTime and GetDeviceInformation without WS-Security
  to the device service on HTTP ports. A NotAuthorized fault or a 401 is a valid outcome
  (`auth_required: true`, status ok): it proves an ONVIF service without logging in.

All device XML is parsed by defusedxml with DTDs forbidden (so no entities, no network),
after a byte cap; a bad reply becomes a `protocol-error` observation for its sender.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from camaudit.addresses import authority
from camaudit.model import Datagram, Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._io import ProbeFailure, by_sender, exchange
from camaudit.probes.base import HostProbe, ProbeContext, SweepProbe
from camaudit.probes.http import request_bytes

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
MAX_ITEMS = 64              # types/scopes/xaddrs kept per device
MAX_ITEM_CHARS = 512
MAX_DEVICES = 4096          # ProbeMatch floods: distinct senders remembered per sweep
MAX_DATAGRAMS_PER_SENDER = 16
DEVICE_SERVICE = "/onvif/device_service"

REPEAT = 3                  # multicast is lossy: send the Probe this many times
# (addressing namespace, discovery namespace, the To of a multicast Probe) per dialect:
# WS-Discovery 2005/04, which ONVIF's Core Specification names and nmap's wsdd script sends
# first, and OASIS WS-Discovery 1.1 (2009/01, SOAP 1.2, WS-Addressing 1.0). Some devices
# answer only one of them, so the sweep sends both.
DIALECTS = {
    "2005": ("http://schemas.xmlsoap.org/ws/2004/08/addressing",
             "http://schemas.xmlsoap.org/ws/2005/04/discovery",
             "urn:schemas-xmlsoap-org:ws:2005:04:discovery"),
    "2009": ("http://www.w3.org/2005/08/addressing",
             "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01",
             "urn:docs-oasis-open-org:ws-dd:ns:discovery:2009:01"),
}


def probe_message(dialect: str = "2005") -> bytes:
    """A WS-Discovery Probe for NetworkVideoTransmitter (SOAP 1.2, fresh MessageID)."""
    wsa, wsd, to = DIALECTS[dialect]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        f' xmlns:a="{wsa}" xmlns:d="{wsd}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        f'<s:Header><a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>'
        f'<a:To s:mustUnderstand="1">{to}</a:To>'
        f'<a:Action s:mustUnderstand="1">{wsd}/Probe</a:Action></s:Header>'
        '<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>'
        '</s:Envelope>'
    ).encode()


def local(tag: str) -> str:
    """Element name without its namespace: devices disagree on prefixes and dialects."""
    return tag.rsplit("}", 1)[-1]


def parse_xml(data: bytes) -> Element:
    """Untrusted XML → element tree, with DTDs (hence entities) refused; ProbeFailure on bad input."""
    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError, LookupError) as exc:
        # LookupError: the document declares an encoding Python does not know (`encoding="x"`)
        raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR, f"rejected XML: {type(exc).__name__}: {exc}") from None


def find_all(root: Element, name: str) -> list[Element]:
    return [el for el in root.iter() if local(el.tag) == name]


def child_text(el: Element, name: str) -> str:
    for sub in el.iter():
        if local(sub.tag) == name:
            return (sub.text or "").strip()
    return ""


def _words(value: str) -> list[str]:
    return [w[:MAX_ITEM_CHARS] for w in value.split()][:MAX_ITEMS]


@dataclass(slots=True)
class Match:
    """What one device said across its ProbeMatch datagrams (merged, order kept, bounded)."""

    ip: str
    epr: str = ""
    types: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    xaddrs: list[str] = field(default_factory=list)
    failure: ProbeFailure | None = None   # the first bad datagram from this sender

    def merge(self, probe_match: Element) -> None:
        self.epr = self.epr or child_text(probe_match, "Address")[:MAX_ITEM_CHARS]
        for key, name in (("types", "Types"), ("scopes", "Scopes"), ("xaddrs", "XAddrs")):
            have: list[str] = getattr(self, key)
            for word in _words(child_text(probe_match, name)):
                if word not in have and len(have) < MAX_ITEMS:
                    have.append(word)

    def observation(self, source: str, mac: str | None) -> Observation:
        """Ok when any ProbeMatch parsed (a later bad datagram does not undo it), else the failure."""
        if self.epr or self.types or self.scopes or self.xaddrs:
            data = {"epr": self.epr, "types": self.types, "scopes": self.scopes, "xaddrs": self.xaddrs}
            return Observation(source=source, ip=self.ip, mac=mac, port=WSD_PORT, data=data)
        failure = self.failure or ProbeFailure(ProbeStatus.PROTOCOL_ERROR, "empty ProbeMatch")
        return Observation(source=source, ip=self.ip, mac=mac, port=WSD_PORT, status=failure.status,
                           error=f"WS-Discovery reply from {self.ip}: {failure}")


def parse_probe_matches(payload: bytes) -> list[Element]:
    """The ProbeMatch elements of a datagram (a reply may hold several)."""
    root = parse_xml(payload)
    matches = find_all(root, "ProbeMatch")
    if not matches:
        raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR, "WS-Discovery reply without a ProbeMatch")
    return matches


class WsDiscoveryProbe(SweepProbe):
    """ONVIF WS-Discovery on the scanner's segment and by unicast to routed hosts."""

    name: ClassVar[str] = "onvif"

    async def sweep(self, hosts: list[Host], ctx: ProbeContext) -> list[Observation]:
        """Both dialects at once, each in its own `ask` over the same window; a device's
        ProbeMatches are merged whichever dialect they answer. The asks share the scan's
        socket for the port, so each hears every reply: one copy of each is kept."""
        asks = [ctx.ask(probe_message(d), group=WSD_GROUP, port=WSD_PORT,
                        unicast_to=[h.ip for h in hosts], repeat=REPEAT) for d in DIALECTS]
        replies = list({(r.ip, r.port, r.data): r for batch in await asyncio.gather(*asks)
                        for r in batch}.values())
        macs = {h.ip: h.mac for h in hosts}
        return [m.observation(self.name, macs.get(m.ip)) for m in merge_replies(replies)]


def merge_replies(replies: Iterable[Datagram]) -> list[Match]:
    """ProbeMatches merged per sender, bounded against floods; bad replies keep their error."""
    matches = []
    for ip, datagrams in by_sender(replies, MAX_DEVICES, MAX_DATAGRAMS_PER_SENDER).items():
        m = Match(ip)
        for reply in datagrams:
            if reply.truncated:
                m.failure = m.failure or ProbeFailure(ProbeStatus.TOO_LARGE, f"datagram over {len(reply.data)} bytes")
                continue
            try:
                for pm in parse_probe_matches(reply.data):
                    m.merge(pm)
            except ProbeFailure as exc:
                m.failure = m.failure or exc
        matches.append(m)
    return matches


# --- SOAP -------------------------------------------------------------------------------

def soap_request(operation: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
            f'<{operation} xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
            '</s:Body></s:Envelope>').encode()


def soap_fault(root: Element) -> str | None:
    """'<subcode> <reason>' of a SOAP fault, or None when the body is not a fault."""
    faults = find_all(root, "Fault")
    if not faults:
        return None
    codes = [(el.text or "").strip() for el in faults[0].iter() if local(el.tag) == "Value"]
    reason = child_text(faults[0], "Text") or child_text(faults[0], "faultstring")
    return " ".join(filter(None, [codes[-1] if codes else "", reason]))[:MAX_ITEM_CHARS]


def utc_time(root: Element) -> str | None:
    """GetSystemDateAndTime's UTCDateTime as ISO 8601, or None if absent or malformed."""
    utc = find_all(root, "UTCDateTime")
    if not utc:
        return None
    try:
        parts = [int(child_text(utc[0], n)) for n in ("Year", "Month", "Day", "Hour", "Minute", "Second")]
    except ValueError:
        return None
    return "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(*parts)


DEVICE_INFO_FIELDS = {"Manufacturer": "manufacturer", "Model": "model", "FirmwareVersion": "firmware",
                      "SerialNumber": "serial", "HardwareId": "hardware_id"}


class OnvifSoapProbe(HostProbe):
    """GetSystemDateAndTime + GetDeviceInformation on the device service, no credentials."""

    name: ClassVar[str] = "onvif"
    default_ports: ClassVar[frozenset[int]] = frozenset({80, 8080})

    async def probe(self, host: Host, port: int, ctx: ProbeContext) -> list[Observation]:
        data: dict[str, Any] = {"service": DEVICE_SERVICE}
        try:
            root = await self._call(host, port, ctx, "GetSystemDateAndTime", data)
            if root is not None:
                data["system_time"] = utc_time(root)
            root = await self._call(host, port, ctx, "GetDeviceInformation", data)
            if root is not None:
                info = {key: child_text(root, tag)[:MAX_ITEM_CHARS] for tag, key in DEVICE_INFO_FIELDS.items()}
                data["device_info"] = {k: v for k, v in info.items() if v}
        except ProbeFailure as exc:
            return [Observation(source=self.name, ip=host.ip, mac=host.mac, port=port, data=data,
                                status=exc.status,
                                error=f"ONVIF http://{authority(host.ip, port, zone=True)}{DEVICE_SERVICE}: {exc}")]
        return [Observation(source=self.name, ip=host.ip, mac=host.mac, port=port, data=data)]

    async def _call(self, host: Host, port: int, ctx: ProbeContext, operation: str,
                    data: dict[str, Any]) -> Element | None:
        """One SOAP call; None when the device says authentication is required (recorded)."""
        req = request_bytes("POST", DEVICE_SERVICE, authority(host.ip, port, default=80), soap_request(operation),
                            "application/soap+xml; charset=utf-8")
        resp, status, error = await exchange(ctx, host.ip, port, req)
        if status is not ProbeStatus.OK:
            raise ProbeFailure(status, f"{operation}: {error}")
        if resp.status == 401:
            data["auth_required"] = True
            return None
        if resp.status == 404 or not resp.body:
            raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR,
                               f"{operation}: HTTP {resp.status}, no ONVIF device service here")
        root = parse_xml(resp.body)
        fault = soap_fault(root)
        if fault:
            if "notauthorized" in fault.lower():
                data["auth_required"] = True
                return None
            raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR, f"{operation}: SOAP fault {fault}")
        return root

"""ONVIF answers: WS-Discovery ProbeMatches (2005/04 and 2009/01) and device-service SOAP.

Only what a scanner asks without credentials is modelled: discovery, GetSystemDateAndTime,
GetCapabilities and GetDeviceInformation (which a persona may guard with NotAuthorized,
as many real cameras do).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from xml.sax.saxutils import escape

from camaudit.lab.persona import Onvif
from camaudit.lab.server.render import fill_str

WSD_PORT, WSD_GROUP, WSD_GROUP6 = 3702, "239.255.255.250", "ff02::c"   # WS-Discovery 1.1 §3.1.1
_WSD = {
    "2005": ("http://schemas.xmlsoap.org/ws/2004/08/addressing",
             "http://schemas.xmlsoap.org/ws/2005/04/discovery",
             "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"),
    "2009": ("http://www.w3.org/2005/08/addressing",
             "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01",
             "http://www.w3.org/2005/08/addressing/anonymous"),
}
_MESSAGE_ID = re.compile(r"<(?:[\w.-]+:)?MessageID[^>]*>\s*([^<\s]{1,256})\s*<")
_TYPES = re.compile(r"<(?:[\w.-]+:)?Types[^>]*>([^<]{0,1024})<")
_PROBE = re.compile(r"<(?:[\w.-]+:)?Probe[\s/>]")
_ACTION = re.compile(r"<(?:[\w.-]+:)?(GetSystemDateAndTime|GetDeviceInformation|GetCapabilities|GetServices)[\s/>]")


def probe_match(probe: bytes, onvif: Onvif, values: Mapping[str, str], seq: int) -> bytes | None:
    """The ProbeMatches for a WS-Discovery Probe, in the probe's protocol version; None when
    the datagram is not a Probe, is in a version the persona does not answer
    (`wsd_versions`), or asks for types this device does not offer."""
    text = probe[:65536].decode("utf-8", "replace")
    if not _PROBE.search(text):
        return None
    wanted = _TYPES.search(text)
    offered = {t.rpartition(":")[2] for t in onvif.types}
    if wanted and wanted.group(1).split() and not offered & {t.rpartition(":")[2] for t in wanted.group(1).split()}:
        return None
    version = "2009" if "docs.oasis-open.org/ws-dd/ns/discovery/2009/01" in text else "2005"
    if version not in onvif.wsd_versions:
        return None             # a device that speaks only the other dialect stays silent
    relates = _MESSAGE_ID.search(text)
    anonymous = _WSD[version][2]
    return _discovery_message(onvif, values, version, seq, to=anonymous, action="ProbeMatches",
                              relates=relates.group(1) if relates else None)


# WS-Discovery 2005/04 §4.1 and 1.1 §4.1: a Hello goes to the discovery URN, not to a reply address
_HELLO_TO = {"2005": "urn:schemas-xmlsoap-org:ws:2005:04:discovery",
             "2009": "urn:docs-oasis-open-org:ws-dd:ns:discovery:2009:01"}


def hello(onvif: Onvif, values: Mapping[str, str], version: str, seq: int) -> bytes:
    """The Hello a device multicasts unasked (on joining the network and, in the lab's
    chatter, on a schedule) in one WS-Discovery version: the ProbeMatch's endpoint, Types,
    Scopes and XAddrs in a `Hello` body."""
    return _discovery_message(onvif, values, version, seq, to=_HELLO_TO[version], action="Hello", relates=None)


def _discovery_message(onvif: Onvif, values: Mapping[str, str], version: str, seq: int, *, to: str,
                       action: str, relates: str | None) -> bytes:
    """A ProbeMatches (one ProbeMatch) or Hello envelope describing this device."""
    wsa, wsd, _ = _WSD[version]
    scopes = " ".join(fill_str(s, values) for s in onvif.scopes)
    xaddrs = " ".join(fill_str(x, values) for x in onvif.xaddrs)
    body_open, body_close = (("<wsdd:ProbeMatches><wsdd:ProbeMatch>", "</wsdd:ProbeMatch></wsdd:ProbeMatches>")
                             if action == "ProbeMatches" else ("<wsdd:Hello>", "</wsdd:Hello>"))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:wsa="{wsa}" xmlns:wsdd="{wsd}" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
        "<SOAP-ENV:Header>"
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        + (f"<wsa:RelatesTo>{escape(relates)}</wsa:RelatesTo>" if relates else "")
        + f'<wsa:To SOAP-ENV:mustUnderstand="true">{to}</wsa:To>'
        f'<wsa:Action SOAP-ENV:mustUnderstand="true">{wsd}/{action}</wsa:Action>'
        f'<wsdd:AppSequence InstanceId="1" MessageNumber="{seq}"/>'
        f"</SOAP-ENV:Header><SOAP-ENV:Body>{body_open}"
        f"<wsa:EndpointReference><wsa:Address>urn:uuid:{values['uuid']}</wsa:Address></wsa:EndpointReference>"
        f"<wsdd:Types>{escape(' '.join(onvif.types))}</wsdd:Types>"
        f"<wsdd:Scopes>{escape(scopes)}</wsdd:Scopes>"
        f"<wsdd:XAddrs>{escape(xaddrs)}</wsdd:XAddrs>"
        "<wsdd:MetadataVersion>1</wsdd:MetadataVersion>"
        f"{body_close}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


_ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?>\n'
             '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
             'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
             'xmlns:tt="http://www.onvif.org/ver10/schema" '
             'xmlns:ter="http://www.onvif.org/ver10/error">'
             "<env:Body>{}</env:Body></env:Envelope>")


def _fault(subcode: str, text: str) -> str:
    return ("<env:Fault><env:Code><env:Value>env:Sender</env:Value>"
            f"<env:Subcode><env:Value>{subcode}</env:Value></env:Subcode></env:Code>"
            f'<env:Reason><env:Text xml:lang="en">{text}</env:Text></env:Reason></env:Fault>')


def soap_answer(request_body: bytes, onvif: Onvif, values: Mapping[str, str]) -> tuple[int, bytes]:
    """(HTTP status, SOAP envelope) for a POST to /onvif/device_service."""
    m = _ACTION.search(request_body[:65536].decode("utf-8", "replace"))
    action = m.group(1) if m else None
    if action == "GetSystemDateAndTime":
        now = dt.datetime.now(dt.timezone.utc)
        body = ("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
                "<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
                f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
                f"<tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>{now.year}</tt:Year>"
                f"<tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date>"
                "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")
        return 200, _ENVELOPE.format(body).encode()
    if action == "GetCapabilities":
        xaddr = escape(fill_str(onvif.xaddrs[0], values)) if onvif.xaddrs else ""
        body = ("<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device>"
                f"<tt:XAddr>{xaddr}</tt:XAddr></tt:Device></tds:Capabilities></tds:GetCapabilitiesResponse>")
        return 200, _ENVELOPE.format(body).encode()
    if action == "GetDeviceInformation":
        if onvif.device_info_auth:
            return 400, _ENVELOPE.format(_fault("ter:NotAuthorized", "Sender not Authorized")).encode()
        fields = (("Manufacturer", onvif.manufacturer), ("Model", onvif.model),
                  ("FirmwareVersion", onvif.firmware), ("SerialNumber", onvif.serial),
                  ("HardwareId", onvif.hardware_id))
        inner = "".join(f"<tds:{k}>{escape(fill_str(v, values))}</tds:{k}>" for k, v in fields)
        return 200, _ENVELOPE.format(f"<tds:GetDeviceInformationResponse>{inner}</tds:GetDeviceInformationResponse>").encode()
    return 400, _ENVELOPE.format(_fault("ter:ActionNotSupported", "Action not supported")).encode()

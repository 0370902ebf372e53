"""mDNS / DNS-SD (RFC 6762, RFC 6763): what devices say about themselves on UDP 5353.

One query holds a bounded list of PTR questions — the DNS-SD meta-query
`_services._dns-sd._udp.local` (RFC 6763 §9) and the service types cameras, routers and
their look-alikes publish — with the QU bit set (RFC 6762 §5.4), so responders answer
the scanner directly. It goes to 224.0.0.251:5353 on the segment (repeated: multicast is
lossy) and, to hosts the engine names (routed segments), by direct unicast to port 5353
(§5.5: a responder answers it as a QU question; conformant responders ignore off-link
askers, many devices do not).

Replies are read with the bounded reader of `camaudit.probes._dnswire` and merged per
sender: service instances (instance label, service type, SRV host and port, TXT keys),
the service types listed, host names and addresses. Hikvision cameras, for example,
publish `_CGI._tcp` with the instance "HIKVISION <model> - <serial tail>" and their full
serial as SRV host (128keaton/hikvision-mdns `test/cameras.json`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from camaudit.model import Datagram, Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._dnswire import (TYPE_A, TYPE_AAAA, TYPE_PTR, TYPE_SRV, TYPE_TXT, DnsError,
                                      Name, encode_query, parse_message)
from camaudit.probes._io import by_sender
from camaudit.probes.base import ProbeContext, SweepProbe

GROUP, PORT = "224.0.0.251", 5353
REPEAT = 2
META = ("_services", "_dns-sd", "_udp", "local")
# A bounded list: cameras (CGI, PSIA, RTSP, ONVIF-style names), web UIs, device-info and
# workstation records (RFC 6763 §7; Recog mdns_device-info_txt.xml), and the look-alikes a
# camera network also holds (printers per Apple's Bonjour Printing spec, HomeKit, Cast).
SERVICE_TYPES = ("_CGI._tcp", "_psia._tcp", "_rtsp._tcp", "_onvif._tcp", "_http._tcp", "_https._tcp",
                 "_device-info._tcp", "_workstation._tcp", "_axis-video._tcp", "_hap._tcp",
                 "_printer._tcp", "_ipp._tcp", "_googlecast._tcp")

MAX_DEVICES = 4096
MAX_DATAGRAMS_PER_SENDER = 16
MAX_SERVICES = 32           # service instances kept per device
MAX_ITEMS = 32              # types, host names, addresses kept per device
MAX_TXT_KEYS = 32           # TXT keys kept per service instance
MAX_CHARS = 255             # any label, key or value (a DNS label is at most 63 bytes, a TXT string 255)


def query() -> bytes:
    """The one mDNS query: PTR questions for the meta-query and every type, QU bit set."""
    names = [META] + [(*t.split("."), "local") for t in SERVICE_TYPES]
    return encode_query([(n, TYPE_PTR) for n in names], unicast_response=True)


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value[:MAX_CHARS]


def _service_of(name: Name) -> tuple[str, str] | None:
    """(instance label, service type) of `<instance>._type._proto.local`, else None."""
    if len(name) >= 4 and name[-1].lower() == "local" and name[-2].lower() in ("_tcp", "_udp") \
            and name[-3].startswith("_"):
        return _text(".".join(name[:-3])), f"{name[-3]}.{name[-2]}"
    return None


def _add(items: list[str], value: str) -> None:
    if value and value not in items and len(items) < MAX_ITEMS:
        items.append(value)


@dataclass(slots=True)
class Device:
    """What one sender said across its reply datagrams (merged, order kept, bounded)."""

    ip: str
    services: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    types: list[str] = field(default_factory=list)
    hostnames: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    records: int = 0
    failure: tuple[ProbeStatus, str] | None = None   # the first unreadable datagram

    def service(self, key: tuple[str, str]) -> dict[str, Any] | None:
        found = self.services.get(key)
        if found is None and len(self.services) < MAX_SERVICES:
            found = self.services[key] = {"instance": key[0], "type": key[1]}
        return found

    def merge(self, payload: bytes) -> None:
        message = parse_message(payload)
        if not message.is_response:
            return                   # another host's query: nothing about the sender
        for rec in message.records:
            self.records += 1
            if rec.rtype == TYPE_PTR and isinstance(rec.value, tuple):
                target = _service_of(rec.value)
                if tuple(label.lower() for label in rec.name) == META:
                    _add(self.types, _text(".".join(rec.value[:2])))
                elif target:
                    _add(self.types, target[1])
                    self.service(target)
                continue
            owner = _service_of(rec.name)
            if rec.rtype == TYPE_SRV and owner and (svc := self.service(owner)) is not None:
                port, target_name = rec.value  # type: ignore[misc]
                svc["port"], svc["host"] = port, _text(".".join(target_name))
                _add(self.hostnames, svc["host"])
            elif rec.rtype == TYPE_TXT and owner and (svc := self.service(owner)) is not None:
                txt: dict[str, str] = svc.setdefault("txt", {})
                for raw in rec.value:  # type: ignore[attr-defined]
                    key, _, value = raw.partition(b"=")   # RFC 6763 §6.3: key up to the first '='
                    if key and len(txt) < MAX_TXT_KEYS:
                        txt.setdefault(_text(key), _text(value))
            elif rec.rtype in (TYPE_A, TYPE_AAAA):
                _add(self.hostnames, _text(".".join(rec.name)))
                _add(self.addresses, str(rec.value))

    def observation(self, mac: str | None) -> Observation | None:
        """Ok when any record was read (a later bad datagram does not undo it), else the
        first failure; None when the sender only sent queries (it said nothing about itself)."""
        if self.records:
            data: dict[str, Any] = {"services": list(self.services.values()), "types": self.types,
                                    "hostnames": self.hostnames, "addresses": self.addresses}
            return Observation(source="mdns", ip=self.ip, mac=mac, port=PORT, data=data)
        if self.failure is None:
            return None
        status, reason = self.failure
        return Observation(source="mdns", ip=self.ip, mac=mac, port=PORT, status=status,
                           error=f"mDNS reply from {self.ip}: {reason}")


def merge_replies(replies: Iterable[Datagram]) -> list[Device]:
    """Replies grouped by sender, bounded against floods; bad datagrams keep their reason."""
    devices = []
    for ip, datagrams in by_sender(replies, MAX_DEVICES, MAX_DATAGRAMS_PER_SENDER).items():
        device = Device(ip)
        for reply in datagrams:
            if reply.truncated:
                device.failure = device.failure or (ProbeStatus.TOO_LARGE,
                                                    f"datagram longer than the {len(reply.data)}-byte cap")
                continue
            try:
                device.merge(reply.data)
            except DnsError as exc:
                device.failure = device.failure or (ProbeStatus.PROTOCOL_ERROR, f"not a DNS message: {exc}")
        devices.append(device)
    return devices


class MdnsProbe(SweepProbe):
    """mDNS / DNS-SD on the scanner's segment and by direct unicast to routed hosts."""

    name: ClassVar[str] = "mdns"

    async def sweep(self, hosts: list[Host], ctx: ProbeContext) -> list[Observation]:
        replies = await ctx.ask(query(), group=GROUP, port=PORT, unicast_to=[h.ip for h in hosts],
                                repeat=REPEAT)
        macs = {h.ip: h.mac for h in hosts}
        found = (d.observation(macs.get(d.ip)) for d in merge_replies(replies))
        return [o for o in found if o is not None]

"""An mDNS / DNS-SD responder for a persona's `[mdns]` section (RFC 6762, RFC 6763).

What it answers, per question of a query (QR=0; responses are never answered, so devices
never answer each other):

* PTR `_services._dns-sd._udp.local` → one PTR per service type (RFC 6763 §9);
* PTR `<type>.local` → the instance PTR, with its SRV, TXT and the host's A record as
  additional records (RFC 6763 §12);
* SRV/TXT/ANY `<instance>.<type>.local` and A/ANY `<hostname>.local` → those records.

Where the answer goes (RFC 6762): a query from a port other than 5353 is a legacy unicast
query (§6.7): unicast to its source, ID and questions echoed; a question with the QU bit is answered by unicast to the asker's 5353 (§5.4);
otherwise by multicast to 224.0.0.251:5353. A direct unicast query (§5.5) is answered the
same way, so a querier off the link gets its answer only with the QU bit set (the
responder does not learn a datagram's destination address). Like many real devices (CERT
VU#550620), it answers askers from any address, not only from its own link. Names are written
without compression. The query reader is the lab's own, independent of the scanner's.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Mapping

from camaudit.lab.persona_mdns import Mdns, MdnsService
from camaudit.lab.server.render import fill_str

PORT, GROUP, GROUP6 = 5353, "224.0.0.251", "ff02::fb"
TYPE_A, TYPE_AAAA, TYPE_PTR, TYPE_TXT, TYPE_SRV, TYPE_ANY = 1, 28, 12, 16, 33, 255
TTL_SHARED, TTL_UNIQUE = 4500, 120     # RFC 6762 §10: service records / host records
LEGACY_TTL = 10                        # §6.7: at most 10 s in legacy unicast answers
MAX_QUESTIONS = 32
META = ("_services", "_dns-sd", "_udp", "local")

Name = tuple[str, ...]


def _name(data: bytes, offset: int) -> tuple[Name, int]:
    """A question name (backward compression pointers only, a few jumps); ValueError if bad."""
    labels: list[str] = []
    end, jumps = None, 0
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            target = ((length & 0x3F) << 8) | data[offset + 1]
            jumps += 1
            if target >= offset or jumps > 8:
                raise ValueError("bad compression pointer")
            end = end if end is not None else offset + 2
            offset = target
            continue
        if length == 0:
            return tuple(labels), end if end is not None else offset + 1
        labels.append(data[offset + 1:offset + 1 + length].decode("utf-8", "replace"))
        offset += 1 + length
        if len(labels) > 32:
            raise ValueError("name too long")


def questions(data: bytes) -> tuple[int, list[tuple[Name, int, bool]], bytes] | None:
    """(ID, [(name, qtype, QU bit)], raw question section) of a query; None for anything else."""
    try:
        ident, flags, qdcount = struct.unpack_from("!HHH", data)
        if flags & 0x8000 or flags & 0x7800:     # a response, or not a standard query
            return None
        out, offset = [], 12
        for _ in range(min(qdcount, MAX_QUESTIONS)):
            name, offset = _name(data, offset)
            qtype, qclass = struct.unpack_from("!HH", data, offset)
            offset += 4
            out.append((tuple(label.lower() for label in name), qtype, bool(qclass & 0x8000)))
        return ident, out, data[12:offset]
    except (struct.error, IndexError, ValueError):
        return None


def _wire(labels: Name) -> bytes:
    return b"".join(bytes([len(raw)]) + raw for raw in (label.encode() for label in labels)) + b"\0"


def _record(name: Name, rtype: int, ttl: int, rdata: bytes, flush: bool) -> bytes:
    rclass = 1 | (0x8000 if flush else 0)          # cache-flush bit on unique records (§10.2)
    return _wire(name) + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


class MdnsAnswers:
    """The records of one device and the answer to one query, on one of its addresses: an
    IPv6 responder announces its AAAA record and answers on the IPv6 group (RFC 6762 §20)."""

    def __init__(self, mdns: Mdns, values: Mapping[str, str], group: str = GROUP) -> None:
        self.host: Name = (fill_str(mdns.hostname, values), "local")
        self.ip, self.group = values["ip"], group
        self.address_type = TYPE_AAAA if ":" in self.ip else TYPE_A
        self.services = [(s, (fill_str(s.instance, values), *s.type.split("."), "local"), values)
                         for s in mdns.services]

    def _instance(self, s: MdnsService, name: Name, values: Mapping[str, str], ttl: int) -> list[bytes]:
        txt = b"".join(bytes([len(raw)]) + raw for raw in (fill_str(t, values).encode() for t in s.txt)) or b"\0"
        return [_record(name, TYPE_SRV, min(ttl, TTL_UNIQUE), struct.pack("!HHH", 0, 0, s.port) + _wire(self.host), True),
                _record(name, TYPE_TXT, ttl, txt, True)]

    def _address(self, ttl: int) -> bytes:
        packed = socket.inet_pton(socket.AF_INET6 if self.address_type == TYPE_AAAA else socket.AF_INET, self.ip)
        return _record(self.host, self.address_type, min(ttl, TTL_UNIQUE), packed, True)

    def records(self, qs: list[tuple[Name, int, bool]], ttl: int) -> tuple[list[bytes], list[bytes]]:
        """(answers, additional records) for the questions."""
        answers: list[bytes] = []
        extra: list[bytes] = []
        for name, qtype, _ in qs:
            if name == META and qtype in (TYPE_PTR, TYPE_ANY):
                for stype in dict.fromkeys(s.type for s, _, _ in self.services):
                    answers.append(_record(META, TYPE_PTR, ttl, _wire((*stype.split("."), "local")), False))
            for s, iname, values in self.services:
                tname = iname[1:]
                if name == tuple(x.lower() for x in tname) and qtype in (TYPE_PTR, TYPE_ANY):
                    answers.append(_record(tname, TYPE_PTR, ttl, _wire(iname), False))
                    extra += self._instance(s, iname, values, ttl) + [self._address(ttl)]
                elif name == tuple(x.lower() for x in iname) and qtype in (TYPE_SRV, TYPE_TXT, TYPE_ANY):
                    answers += self._instance(s, iname, values, ttl)
                    extra.append(self._address(ttl))
            if name == tuple(x.lower() for x in self.host) and qtype in (self.address_type, TYPE_ANY):
                answers.append(self._address(ttl))
        extra = [r for r in dict.fromkeys(extra) if r not in answers]
        return list(dict.fromkeys(answers)), extra

    def announcement(self) -> bytes:
        """The unsolicited response a responder multicasts on start-up and on change (RFC 6762
        §8.3): every record it owns in the answer section, as if all its names were asked."""
        qs = [(tuple(x.lower() for x in iname[1:]), TYPE_PTR, False) for _, iname, _ in self.services]
        qs.append((tuple(x.lower() for x in self.host), TYPE_A, False))
        answers, extra = self.records(qs, TTL_SHARED)
        records = answers + extra
        return struct.pack("!HHHHHH", 0, 0x8400, 0, len(records), 0, 0) + b"".join(records)

    def reply(self, data: bytes, sender: tuple[str, int]) -> list[tuple[bytes, tuple[str, int]]]:
        """The response datagram and where it goes; [] when there is nothing to say."""
        parsed = questions(data)
        if parsed is None:
            return []
        ident, qs, raw_questions = parsed
        legacy = sender[1] != PORT
        answers, extra = self.records(qs, LEGACY_TTL if legacy else TTL_SHARED)
        if not answers:
            return []
        header = struct.pack("!HHHHHH", ident if legacy else 0, 0x8400,   # QR + AA
                             len(qs) if legacy else 0, len(answers), 0, len(extra))
        payload = header + (raw_questions if legacy else b"") + b"".join(answers + extra)
        if legacy or any(qu for _, _, qu in qs):
            return [(payload, (sender[0], sender[1]))]
        return [(payload, (self.group, PORT))]

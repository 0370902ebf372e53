"""A bounded reader of DNS messages (RFC 1035 §4) for mDNS replies (RFC 6762, RFC 6763).

Devices write these bytes, so every loop is bounded while reading, not after:

* a name is at most 255 bytes and 128 labels, follows at most `MAX_POINTERS` compression
  pointers, and every pointer must point strictly before the label that holds it, so a
  pointer loop (a name pointing at itself or forward into a cycle) ends at the first jump
  that does not go back (RFC 1035 §4.1.4 only ever points to a prior occurrence);
* at most `MAX_RECORDS` resource records are read per message, whatever the header's
  counts claim (a header may claim 65,535 answers in a 40-byte datagram);
* an rdlength past the end of the datagram, a label type other than 0 or 0xC0 (RFC 6891's
  0x40 and the reserved 0x80), or a truncated header is a `DnsError` for the whole message.

Only what DNS-SD needs is decoded: PTR, SRV, TXT, A and AAAA; other types are skipped by
their rdlength. Names come back as label tuples, because an instance label may contain dots
("HIKVISION DS-2CD2722FWD-IZS - 733050075" is one label; RFC 6763 §4.3).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

MAX_NAME_BYTES = 255          # RFC 1035 §2.3.4
MAX_LABELS = 128
MAX_POINTERS = 16             # compression jumps per name
MAX_RECORDS = 256             # records read per message (answers + authority + additional)
MAX_QUESTIONS = 64            # questions skipped before the records
MAX_TXT_STRINGS = 64          # key=value strings kept per TXT record

TYPE_A, TYPE_PTR, TYPE_TXT, TYPE_AAAA, TYPE_SRV, TYPE_ANY = 1, 12, 16, 28, 33, 255
CLASS_IN = 1
FLAG_QR = 0x8000              # a response
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")

Name = tuple[str, ...]


class DnsError(ValueError):
    """The message is not well-formed DNS; the text says where it went wrong."""


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded resource record; `value` depends on `rtype`:

    PTR → Name; SRV → (port, target Name); TXT → tuple of bytes strings; A/AAAA → address text.
    """

    name: Name
    rtype: int
    value: object


@dataclass(frozen=True, slots=True)
class Message:
    ident: int
    flags: int
    records: tuple[Record, ...]
    claimed: int            # records the header announced (for the report of a cut message)

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_QR)


def read_name(data: bytes, offset: int) -> tuple[Name, int]:
    """(labels, offset after the name in the message) — compression followed with care."""
    labels: list[str] = []
    size = 0
    end: int | None = None        # where the name ends in the stream (set at the first pointer)
    floor = offset                # a pointer must land before the label that holds it
    jumps = 0
    while True:
        if offset >= len(data):
            raise DnsError(f"name runs past the end of the message at byte {offset}")
        length = data[offset]
        kind = length & 0xC0
        if kind == 0xC0:
            if offset + 1 >= len(data):
                raise DnsError(f"compression pointer cut at byte {offset}")
            target = ((length & 0x3F) << 8) | data[offset + 1]
            jumps += 1
            if target >= floor or jumps > MAX_POINTERS:
                raise DnsError(f"compression pointer at byte {offset} to {target} does not point back "
                               "to an earlier name (loop)" if target >= floor
                               else f"more than {MAX_POINTERS} compression pointers in one name")
            if end is None:
                end = offset + 2
            offset = floor = target
            continue
        if kind:
            raise DnsError(f"unsupported label type 0x{kind:02x} at byte {offset}")
        if length == 0:
            return tuple(labels), (end if end is not None else offset + 1)
        size += length + 1
        if size > MAX_NAME_BYTES or len(labels) >= MAX_LABELS:
            raise DnsError(f"name longer than {MAX_NAME_BYTES} bytes")
        label = data[offset + 1:offset + 1 + length]
        if len(label) < length:
            raise DnsError(f"label runs past the end of the message at byte {offset}")
        labels.append(label.decode("utf-8", "replace"))
        offset += 1 + length


def _rdata(data: bytes, rtype: int, start: int, length: int) -> object | None:
    end = start + length
    if rtype == TYPE_PTR:
        return read_name(data, start)[0]
    if rtype == TYPE_SRV:
        if length < 7:
            raise DnsError(f"SRV rdata of {length} bytes")
        (port,) = struct.unpack_from("!H", data, start + 4)
        return port, read_name(data, start + 6)[0]
    if rtype == TYPE_TXT:
        strings: list[bytes] = []
        pos = start
        while pos < end and len(strings) < MAX_TXT_STRINGS:
            n = data[pos]
            if pos + 1 + n > end:
                raise DnsError(f"TXT string past its rdata at byte {pos}")
            if n:
                strings.append(data[pos + 1:pos + 1 + n])
            pos += 1 + n
        return tuple(strings)
    if rtype == TYPE_A and length == 4:
        return str(ipaddress.IPv4Address(data[start:end]))
    if rtype == TYPE_AAAA and length == 16:
        return str(ipaddress.IPv6Address(data[start:end]))
    return None


def parse_message(data: bytes) -> Message:
    """Header and the first `MAX_RECORDS` records of every section; DnsError if malformed.

    A message cut inside a record keeps the records read before it only when at least one
    was read: the error is raised otherwise, so garbage is never an empty success.
    """
    if len(data) < _HEADER.size:
        raise DnsError(f"{len(data)} bytes is shorter than a DNS header")
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    offset = _HEADER.size
    for _ in range(min(qdcount, MAX_QUESTIONS)):
        _, offset = read_name(data, offset)
        offset += 4
        if offset > len(data):
            raise DnsError("question runs past the end of the message")
    claimed = ancount + nscount + arcount
    records: list[Record] = []
    for _ in range(min(claimed, MAX_RECORDS)):
        if offset >= len(data) and records:
            break                 # fewer records than the header claims: keep what arrived
        try:
            name, offset = read_name(data, offset)
            if offset + _RR.size > len(data):
                raise DnsError(f"record header cut at byte {offset}")
            rtype, _rclass, _ttl, length = _RR.unpack_from(data, offset)
            offset += _RR.size
            if offset + length > len(data):
                raise DnsError(f"rdlength {length} at byte {offset - 2} runs past the "
                               f"{len(data)}-byte message")
            value = _rdata(data, rtype, offset, length)
        except DnsError:
            if not records:
                raise
            break
        offset += length
        if value is not None:
            records.append(Record(name, rtype, value))
    return Message(ident, flags, tuple(records), claimed)


def encode_name(labels: Name) -> bytes:
    """A name in wire form without compression (queries are small)."""
    out = bytearray()
    for label in labels:
        raw = label.encode()
        if not 0 < len(raw) < 64:
            raise ValueError(f"label {label!r} is not 1-63 bytes")
        out += bytes([len(raw)]) + raw
    return bytes(out + b"\x00")


def encode_query(questions: list[tuple[Name, int]], *, unicast_response: bool) -> bytes:
    """A query message, ID 0 (RFC 6762 §18.1); `unicast_response` sets the QU bit (§5.4)."""
    qclass = CLASS_IN | (0x8000 if unicast_response else 0)
    body = b"".join(encode_name(name) + struct.pack("!HH", qtype, qclass) for name, qtype in questions)
    return _HEADER.pack(0, 0, len(questions), 0, 0, 0) + body

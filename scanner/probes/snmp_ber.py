"""The BER shapes SNMP messages use (RFC 3416 PDUs, X.690 definite lengths), for the SNMP
probe's v2c path (`camaudit.probes.snmp`) and its SNMPv3 USM path (`camaudit.probes.snmp_usm`).

Written here rather than taken from pysnmp: pysnmp sends through its own transport, which
would bypass `ProbeContext` (rate cap, host slots, excludes). A reply is read from a
datagram already cut at `Bounds.max_datagram_bytes`, with every length checked against the
bytes that are really there, so an absurd length is a `BerError`, never an allocation or a
wait (docs/architecture.md, library choices).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

PORT = 161
ATTEMPTS = 2               # a lost datagram is normal: one retry per SNMPv3 request
MAX_VARBINDS = 32
MAX_VALUE_CHARS = 512
MAX_OID_ARCS = 128
ENTITY_ROWS = 3            # GETBULK max-repetitions over the entPhysicalTable columns

SYSTEM = {"1.3.6.1.2.1.1.1.0": "sys_descr", "1.3.6.1.2.1.1.2.0": "sys_object_id",
          "1.3.6.1.2.1.1.5.0": "sys_name"}
ENTITY = {"1.3.6.1.2.1.47.1.1.1.1.10": "ent_software_rev", "1.3.6.1.2.1.47.1.1.1.1.11": "ent_serial_num",
          "1.3.6.1.2.1.47.1.1.1.1.12": "ent_mfg_name", "1.3.6.1.2.1.47.1.1.1.1.13": "ent_model_name"}

GET, GET_BULK, RESPONSE = 0xA0, 0xA5, 0xA2
SEQUENCE, INTEGER, OCTETS, NULL, OID = 0x30, 0x02, 0x04, 0x05, 0x06
EXCEPTIONS = {0x80: "noSuchObject", 0x81: "noSuchInstance", 0x82: "endOfMibView"}
_UNSIGNED = {0x41, 0x42, 0x43, 0x46}   # Counter32, Gauge32, TimeTicks, Counter64
_request_ids = itertools.count(0x1000)

# --- encoding ------------------------------------------------------------------------------

def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + body


def _int(value: int) -> bytes:
    return _tlv(INTEGER, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray((arcs[0] * 40 + arcs[1],))
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return _tlv(OID, bytes(out))


def pdu(pdu_type: int, oids: list[str], request_id: int, *,
        non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """A request PDU asking for `oids` with NULL values (the same in v2c and v3 messages)."""
    varbinds = b"".join(_tlv(SEQUENCE, _oid(o) + _tlv(NULL, b"")) for o in oids)
    return _tlv(pdu_type, _int(request_id) + _int(non_repeaters) + _int(max_repetitions)
                + _tlv(SEQUENCE, varbinds))


def request(community: str, pdu_type: int, oids: list[str], request_id: int, *,
            non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """An SNMPv2c message (version 1 = v2c) asking for `oids` with NULL values."""
    return _tlv(SEQUENCE, _int(1) + _tlv(OCTETS, community.encode())
                + pdu(pdu_type, oids, request_id, non_repeaters=non_repeaters, max_repetitions=max_repetitions))


# --- decoding (every length checked against the bytes that are there) -----------------------

class BerError(ValueError):
    """The reply is not a well-formed SNMP message."""


def _read(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the TLV at `pos`, inside [pos, end)."""
    if pos + 2 > end:
        raise BerError(f"truncated at byte {pos}")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise BerError(f"multi-byte tag at byte {pos}")
    pos += 2
    if first == 0x80:
        raise BerError("indefinite length (not allowed in SNMP)")
    if first > 0x80:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise BerError(f"length of {count} bytes at byte {pos - 1}")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    else:
        length = first
    if length > end - pos:
        raise BerError(f"length {length} exceeds the {end - pos} bytes left")
    return tag, pos, pos + length


def _expect(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    got, start, stop = _read(data, pos, end)
    if got != tag:
        raise BerError(f"{what}: expected tag 0x{tag:02x}, got 0x{got:02x}")
    return start, stop


def _decode_int(raw: bytes, signed: bool = True) -> int:
    if not 1 <= len(raw) <= 9:
        raise BerError(f"integer of {len(raw)} bytes")
    return int.from_bytes(raw, "big", signed=signed)


def _decode_oid(raw: bytes) -> str:
    if not raw:
        raise BerError("empty object identifier")
    first = raw[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for i, byte in enumerate(raw[1:]):
        value = (value << 7) | (byte & 0x7F)
        if byte & 0x80:
            if value >> 28:
                raise BerError("object identifier arc too large")
            continue
        arcs.append(value)
        value = 0
        if len(arcs) > MAX_OID_ARCS:
            raise BerError(f"object identifier of more than {MAX_OID_ARCS} arcs")
    if raw[-1] & 0x80:
        raise BerError("object identifier ends inside an arc")
    return ".".join(map(str, arcs))


def _value(tag: int, raw: bytes) -> str | None:
    """A varbind value as text (cut at MAX_VALUE_CHARS); None for NULL and the v2 exceptions."""
    if tag in EXCEPTIONS or tag == NULL:
        return None
    if tag == OCTETS:
        return raw[:MAX_VALUE_CHARS * 4].decode("utf-8", errors="replace").rstrip("\x00")[:MAX_VALUE_CHARS]
    if tag == OID:
        return _decode_oid(raw)
    if tag == INTEGER or tag in _UNSIGNED:
        return str(_decode_int(raw, signed=tag == INTEGER))
    if tag == 0x40 and len(raw) == 4:  # IpAddress
        return ".".join(map(str, raw))
    return raw[:MAX_VALUE_CHARS // 2].hex()


def parse_response(data: bytes, request_id: int) -> tuple[int, list[tuple[str, str | None]]]:
    """(error-status, [(oid, value)]) of a v2c GetResponse to `request_id`; BerError otherwise."""
    start, end = _expect(data, 0, len(data), SEQUENCE, "message")
    start, pos = _expect(data, start, end, INTEGER, "version")
    if data[start:pos] != b"\x01":
        raise BerError("not an SNMPv2c message")
    _, pos = _expect(data, pos, end, OCTETS, "community")
    pdu_tag, answered, error_status, varbinds = parse_pdu(data, pos, end)
    if pdu_tag != RESPONSE:
        raise BerError(f"not a GetResponse PDU (tag 0x{pdu_tag:02x})")
    if answered != request_id:
        raise BerError(f"answers request {answered}, not {request_id}")
    return error_status, varbinds


def parse_pdu(data: bytes, pos: int, end: int) -> tuple[int, int, int, list[tuple[str, str | None]]]:
    """(PDU tag, request-id, error-status, [(oid, value)]) of the PDU at `pos` (v2c and v3 alike)."""
    pdu_tag, pdu_start, pdu_end = _read(data, pos, end)
    fields = []
    pos = pdu_start
    for what in ("request-id", "error-status", "error-index"):
        start, pos = _expect(data, pos, pdu_end, INTEGER, what)
        fields.append(_decode_int(data[start:pos]))
    list_start, list_end = _expect(data, pos, pdu_end, SEQUENCE, "varbind list")
    varbinds = list(_varbinds(data, list_start, list_end))  # read whole first: bounded either way
    return pdu_tag, fields[0], fields[1], varbinds


def _varbinds(data: bytes, pos: int, end: int) -> Iterator[tuple[str, str | None]]:
    for _ in range(MAX_VARBINDS):
        if pos >= end:
            return
        vb_start, vb_end = _expect(data, pos, end, SEQUENCE, "varbind")
        oid_start, oid_end = _expect(data, vb_start, vb_end, OID, "varbind name")
        tag, v_start, v_end = _read(data, oid_end, vb_end)
        yield _decode_oid(data[oid_start:oid_end]), _value(tag, data[v_start:v_end])
        pos = vb_end

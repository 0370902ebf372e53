"""SNMP (UDP 161): the device's own description, only with credentials the user configured.

Asks, with each configured SNMPv3 user (`camaudit.probes.snmp_usm`, RFC 3414) and then
each configured SNMPv2c community in turn until one is answered, a GET of the system
group (RFC 3418: sysDescr.0, sysObjectID.0, sysName.0), then one GETBULK of the first
ENTITY-MIB rows (RFC 6933 entPhysicalTable: software revision, serial number, manufacturer
and model name; the first rows are the chassis on switches and routers). Without a
configured community or user the probe sends nothing: both are credentials and are never
guessed (docs/security.md).

The codec is the few BER shapes SNMP messages use (RFC 3416 PDUs, X.690 definite lengths),
written here rather than taken from pysnmp: pysnmp sends through its own transport, which
would bypass `ProbeContext` (rate cap, host slots, excludes), and a reply is read from a
datagram already cut at `Bounds.max_datagram_bytes`, with every length checked against the
bytes that are really there, so an absurd length is a `protocol-error`, never an allocation
or a wait (docs/architecture.md, library choices).

`data`: `sys_descr`, `sys_object_id`, `sys_name`, `ent_software_rev`, `ent_serial_num`,
`ent_mfg_name`, `ent_model_name` (those the agent answered), `version` "3" or "2c". No
community, passphrase or key is ever part of an observation or a message.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar

from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._io import classify, observation
from camaudit.probes.base import ProbeContext, UnicastProbe

PORT = 161
MAX_COMMUNITIES = 4        # tried per device; each costs up to ATTEMPTS waits when unanswered
ATTEMPTS = 2               # a lost datagram is normal: one retry per community
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
# asks one credential's GET or GETBULK: the varbinds, or (status, reason)
Ask = Callable[..., Awaitable["list[tuple[str, str | None]] | tuple[ProbeStatus, str]"]]


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


# --- the probe -------------------------------------------------------------------------------

def entity_fields(varbinds: list[tuple[str, str | None]]) -> dict[str, str]:
    """The first non-empty value of each asked entPhysicalTable column (rows the GETBULK returned)."""
    out: dict[str, str] = {}
    for oid, value in varbinds:
        column = oid.rsplit(".", 1)[0]
        key = ENTITY.get(column)
        if key and value and value.strip() and key not in out:
            out[key] = value.strip()
    return out


class SnmpProbe(UnicastProbe):
    name: ClassVar[str] = "snmp"

    async def probe(self, host: Host, ctx: ProbeContext) -> list[Observation]:
        from camaudit.probes.snmp_usm import MAX_USERS, Session  # it imports this module's codec

        users, communities = ctx.snmp_users[:MAX_USERS], ctx.snmp_communities[:MAX_COMMUNITIES]
        if not communities and not users:
            return []  # opt-in: no configured community or user, no packet
        session = Session(host.ip, ctx)
        credentials: list[tuple[str, str, Ask]] = [  # v3 users first: they are the stronger credential
            *((f"SNMPv3 user #{i}", "3", functools.partial(session.ask, user)) for i, user in enumerate(users, 1)),
            *((f"community #{i}", "2c", functools.partial(self._ask, host, ctx, community))
              for i, community in enumerate(communities, 1))]
        failure: tuple[ProbeStatus, str] = (ProbeStatus.TIMEOUT, "no answer")
        for label, version, ask in credentials:
            try:
                answered = await ask(GET, list(SYSTEM))
            except ConnectionRefusedError:  # ICMP port unreachable on the connected socket
                return [observation("snmp", host, PORT, {}, ProbeStatus.REFUSED,
                                    "ICMP port unreachable: no SNMP agent listens")]
            except OSError as exc:  # unreachable, excluded
                return [observation("snmp", host, PORT, {}, *classify(exc))]
            if isinstance(answered, tuple):
                failure = (answered[0], f"{label}: {answered[1]}") if answered[0] is not ProbeStatus.TIMEOUT else failure
                continue
            data: dict[str, Any] = {"version": version}
            data.update({SYSTEM[oid]: value for oid, value in answered if oid in SYSTEM and value is not None})
            try:
                rows = await ask(GET_BULK, list(ENTITY), ENTITY_ROWS)
            except OSError:
                rows = []
            if isinstance(rows, list):
                data.update(entity_fields(rows))
            if len(data) == 1:
                return [observation("snmp", host, PORT, data, ProbeStatus.PROTOCOL_ERROR,
                                    f"{label} answered without the system group")]
            return [observation("snmp", host, PORT, data)]
        status, reason = failure
        asked = " and ".join(f"{n} configured {what if n > 1 else one}" for n, what, one in (
            (len(communities), "communities", "community"), (len(users), "SNMPv3 users", "SNMPv3 user")) if n)
        return [observation("snmp", host, PORT, {}, status,
                            f"{reason} to any of the {asked} (wrong credentials, SNMP off, or a filter)"
                            if status is ProbeStatus.TIMEOUT else reason)]

    async def _ask(self, host: Host, ctx: ProbeContext, community: str, pdu: int, oids: list[str],
                   max_repetitions: int = 0) -> list[tuple[str, str | None]] | tuple[ProbeStatus, str]:
        """The varbinds of the first well-formed answer, or (status, reason) after ATTEMPTS tries."""
        failure: tuple[ProbeStatus, str] = (ProbeStatus.TIMEOUT, "no answer")
        for _ in range(ATTEMPTS):
            request_id = next(_request_ids) & 0x7FFFFFFF
            reply = await ctx.exchange(host.ip, PORT, request(community, pdu, oids, request_id,
                                                              max_repetitions=max_repetitions),
                                       wait=ctx.bounds.connect_timeout)
            if reply is None:
                continue
            if reply.truncated:
                return ProbeStatus.TOO_LARGE, f"reply larger than {len(reply.data)} bytes"
            try:
                error_status, varbinds = parse_response(reply.data, request_id)
            except BerError as exc:
                return ProbeStatus.PROTOCOL_ERROR, f"unreadable SNMP reply: {exc}"
            if error_status:
                return ProbeStatus.PROTOCOL_ERROR, f"agent answered error-status {error_status}"
            return varbinds
        return failure

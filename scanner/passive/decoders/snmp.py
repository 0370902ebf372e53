"""SNMP responses heard on the wire (UDP from port 161): another manager's answers, or the
scan's own, say what the agent is.

Read by the active probe's BER reader (`probes.snmp_ber.parse_pdu`, every length checked
against the bytes present) and turned into the probe's `data` keys (`sys_descr`,
`sys_object_id`, `sys_name`, the ENTITY-MIB columns via `probes.snmp.entity_fields`,
`version` "1" or "2c"). SNMPv3 answers are not read (usually encrypted). The community string
in the message is a credential: it is skipped, never copied into an observation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from camaudit.observation import Observation
from camaudit.passive.decoders.base import UdpPortDecoder
from camaudit.passive.packet import Packet
from camaudit.probes.snmp import entity_fields
from camaudit.probes.snmp_ber import (INTEGER, OCTETS, PORT, RESPONSE, SEQUENCE, SYSTEM, BerError, _expect,
                                      parse_pdu)

VERSIONS = {b"\x00": "1", b"\x01": "2c"}


def parse_response(payload: bytes) -> dict[str, Any] | None:
    """The probe's `data` for a v1/v2c GetResponse; None when the datagram is not one."""
    start, end = _expect(payload, 0, len(payload), SEQUENCE, "message")
    start, pos = _expect(payload, start, end, INTEGER, "version")
    version = VERSIONS.get(payload[start:pos])
    if version is None:
        return None
    _, pos = _expect(payload, pos, end, OCTETS, "community")
    tag, _, _, varbinds = parse_pdu(payload, pos, end)
    if tag != RESPONSE:
        return None
    data: dict[str, Any] = {"version": version}
    data.update({SYSTEM[oid]: value for oid, value in varbinds if oid in SYSTEM and value is not None})
    data.update(entity_fields(varbinds))
    return data if len(data) > 1 else None


class SnmpDecoder(UdpPortDecoder):
    name: ClassVar[str] = "snmp"
    ports: ClassVar[frozenset[int]] = frozenset({PORT})

    def feed(self, pkt: Packet) -> Iterable[Observation]:
        if pkt.sport != PORT or pkt.src_ip is None:
            return ()
        try:
            data = parse_response(pkt.payload)
        except BerError:
            self.unreadable += 1
            return ()
        if data is None:
            return ()
        return (Observation(source="snmp", ip=pkt.src_ip, port=PORT, data=data),)

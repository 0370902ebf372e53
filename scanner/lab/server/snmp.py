"""The lab's SNMP agent (UDP 161): GET, GETNEXT and GETBULK over a persona's objects, in
SNMPv2c for the persona's community and in SNMPv3 for its users (`snmp_v3`, pysnmp's USM).

Messages are decoded and encoded with pysnmp's protocol API (RFC 1905/1901 types over the
pyasn1 BER codec), an implementation independent of the scanner's own small codec
(`camaudit.probes.snmp_ber`), so a lab scan checks that codec against a reference one.
Like real agents (RFC 3584 §5.2.1, snmpInBadCommunityNames), a request with another
community, another version or that does not decode gets no reply at all.
"""

from __future__ import annotations

import logging
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api
from pysnmp.proto.api import v2c

from camaudit.lab.persona_snmp import OID_VALUED, Snmp
from camaudit.lab.server import snmp_v3
from camaudit.lab.server.udp import Handler, Reply

log = logging.getLogger("camaudit.lab.server")

PORT = 161
MAX_BULK = 64   # varbinds per GETBULK answer, whatever max-repetitions asks


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(arc) for arc in oid.split("."))


def agent(spec: Snmp) -> Handler:
    """A datagram handler answering `spec.community` and `spec.users` from `spec.objects`
    (sorted MIB view)."""
    table = sorted((_key(oid), oid, value) for oid, value in spec.objects.items())

    def typed(oid: str, value: str) -> Any:
        return v2c.ObjectIdentifier(value) if oid in OID_VALUED else v2c.OctetString(value.encode())

    def get(name: tuple[int, ...]) -> tuple[Any, Any]:
        for key, oid, value in table:
            if key == name:
                return v2c.ObjectIdentifier(name), typed(oid, value)
        return v2c.ObjectIdentifier(name), v2c.NoSuchObject("")

    def get_next(name: tuple[int, ...]) -> tuple[Any, Any]:
        for key, oid, value in table:
            if key > name:
                return v2c.ObjectIdentifier(key), typed(oid, value)
        return v2c.ObjectIdentifier(name), v2c.EndOfMibView("")

    def answer(pdu: Any, names: list[tuple[int, ...]]) -> list[tuple[Any, Any]] | None:
        if pdu.isSameTypeWith(v2c.GetRequestPDU()):
            return [get(name) for name in names]
        if pdu.isSameTypeWith(v2c.GetNextRequestPDU()):
            return [get_next(name) for name in names]
        if pdu.isSameTypeWith(v2c.GetBulkRequestPDU()):
            return _bulk(names, int(v2c.apiBulkPDU.get_non_repeaters(pdu)),
                         int(v2c.apiBulkPDU.get_max_repetitions(pdu)), get_next)
        return None

    v3 = snmp_v3.agent(spec.users, lambda pdu, names: answer(pdu, names) or [],
                       churn=spec.behaviour.name == "engine_churn") if spec.users else None

    def handle(data: bytes, sender: tuple[str, int]) -> list[Reply]:
        try:
            version = int(api.decodeMessageVersion(data))
            if version == 3 and v3 is not None:
                return v3(data, sender)
            if version != api.SNMP_VERSION_2C or spec.community is None:
                return []
            request, _ = decoder.decode(data, asn1Spec=v2c.Message())
        except (PyAsn1Error, ValueError):
            return []
        if bytes(v2c.apiMessage.get_community(request)) != spec.community.encode():
            return []
        pdu = v2c.apiMessage.get_pdu(request)
        varbinds = answer(pdu, [tuple(oid) for oid, _ in v2c.apiPDU.get_varbinds(pdu)])
        if varbinds is None:
            return []
        response = v2c.apiMessage.get_response(request)
        v2c.apiPDU.set_varbinds(v2c.apiMessage.get_pdu(response), varbinds)
        return [(encoder.encode(response), sender)]
    return handle


def _bulk(names: list[tuple[int, ...]], non_repeaters: int, repetitions: int,
          get_next: Any) -> list[tuple[Any, Any]]:
    """RFC 3416 §4.2.3: one GETNEXT for the first `non_repeaters` names, then rows of the rest."""
    non_repeaters = max(0, min(non_repeaters, len(names)))
    out = [get_next(name) for name in names[:non_repeaters]]
    cursor = names[non_repeaters:]
    for _ in range(max(0, repetitions)):
        if not cursor or len(out) + len(cursor) > MAX_BULK:
            break
        row = [get_next(name) for name in cursor]
        out += row
        cursor = [tuple(oid) for oid, _ in row]
    return out

"""SNMP (UDP 161): the device's own description, only with credentials the user configured.

Asks, with each configured SNMPv3 user (`camaudit.probes.snmp_usm`, RFC 3414) and then
each configured SNMPv2c community in turn until one is answered, a GET of the system
group (RFC 3418: sysDescr.0, sysObjectID.0, sysName.0), then one GETBULK of the first
ENTITY-MIB rows (RFC 6933 entPhysicalTable: software revision, serial number, manufacturer
and model name; the first rows are the chassis on switches and routers). Without a
configured community or user the probe sends nothing: both are credentials and are never
guessed (docs/security.md).

The messages are encoded and read by `camaudit.probes.snmp_ber`, where an absurd length is
a `protocol-error`, never an allocation or a wait.

`data`: `sys_descr`, `sys_object_id`, `sys_name`, `ent_software_rev`, `ent_serial_num`,
`ent_mfg_name`, `ent_model_name` (those the agent answered), `version` "3" or "2c". No
community, passphrase or key is ever part of an observation or a message.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._io import classify, observation
from camaudit.probes.base import ProbeContext, UnicastProbe
from camaudit.probes.snmp_ber import (ENTITY, ENTITY_ROWS, GET, GET_BULK, PORT, SYSTEM, BerError, _request_ids,
                                      parse_response, request)
from camaudit.probes.snmp_usm import MAX_USERS, Session

MAX_COMMUNITIES = 4        # tried per device; each costs up to RESEND_AFTER + connect_timeout when unanswered
RESEND_AFTER = 0.25        # seconds before an unanswered request is sent again (a LAN agent answers in ms)

# asks one credential's GET or GETBULK: the varbinds, or (status, reason)
Ask = Callable[..., Awaitable["list[tuple[str, str | None]] | tuple[ProbeStatus, str]"]]


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
        """The varbinds of the well-formed answer, or (status, reason).

        The request is sent, and sent again with the same request-id if unanswered after
        RESEND_AFTER (RFC 3416 §4.1 lets a manager retransmit a request unchanged), so a
        lost datagram costs a quarter second and a slow agent's answer to either copy counts.
        A silent host costs RESEND_AFTER + connect_timeout instead of two full waits.
        """
        request_id = next(_request_ids) & 0x7FFFFFFF
        reply = await ctx.exchange(host.ip, PORT, request(community, pdu, oids, request_id,
                                                          max_repetitions=max_repetitions),
                                   wait=ctx.bounds.connect_timeout, resend_after=RESEND_AFTER)
        if reply is None:
            return ProbeStatus.TIMEOUT, "no answer"
        if reply.truncated:
            return ProbeStatus.TOO_LARGE, f"reply larger than {len(reply.data)} bytes"
        try:
            error_status, varbinds = parse_response(reply.data, request_id)
        except BerError as exc:
            return ProbeStatus.PROTOCOL_ERROR, f"unreadable SNMP reply: {exc}"
        if error_status:
            return ProbeStatus.PROTOCOL_ERROR, f"agent answered error-status {error_status}"
        return varbinds

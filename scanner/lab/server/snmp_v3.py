"""The lab's SNMPv3 agent: pysnmp's own engine, USM and message processing (RFC 3412, 3414).

Nothing of the scanner's USM code is used here: a request goes through pysnmp's message
dispatcher exactly as in a pysnmp agent (version check, USM engine discovery Reports,
time-window and digest checks, AES decryption), and the answer through pysnmp's
`return_response_pdu`. Only the transport is the lab's: pysnmp hands outgoing messages
to a dispatcher object, and this one collects them as the handler's replies instead of
owning a socket (the lab's UDP responder owns it). The PDU is answered from the same
sorted MIB view as the v2c agent (`camaudit.lab.server.snmp`).

`engine_churn` (a persona behaviour) answers every message as if its engine had just been
replaced: the message's engine ID is blanked and a new pysnmp engine (a new engine ID)
answers it, so every reply is a usmStatsUnknownEngineIDs Report naming yet another engine
(as a failover pair or a rebooting device could, endlessly); the scanner must give up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.carrier.base import AbstractTransportDispatcher
from pysnmp.entity import config, engine
from pysnmp.error import PySnmpError
from pysnmp.proto.api import v2c
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from camaudit.lab.persona_snmp import SnmpUserSpec

AUTH = {"md5": config.USM_AUTH_HMAC96_MD5, "sha": config.USM_AUTH_HMAC96_SHA,
        "sha224": config.USM_AUTH_HMAC128_SHA224, "sha256": config.USM_AUTH_HMAC192_SHA256,
        "sha384": config.USM_AUTH_HMAC256_SHA384, "sha512": config.USM_AUTH_HMAC384_SHA512}
PRIV = {"aes": config.USM_PRIV_CFB128_AES}
UDP_DOMAIN = (1, 3, 6, 1, 6, 1, 1)   # snmpUDPDomain (RFC 3417)
REQUESTS = (v2c.GetRequestPDU.tagSet, v2c.GetNextRequestPDU.tagSet, v2c.GetBulkRequestPDU.tagSet)
# Answers a request PDU's varbinds: (PDU, names) -> varbinds, the v2c agent's MIB view.
Answer = Callable[[Any, list[tuple[int, ...]]], list[tuple[Any, Any]]]


class _Collect(AbstractTransportDispatcher):  # type: ignore[misc]
    """pysnmp's transport side, reduced to keeping what the engine would send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[bytes, Any]] = []

    def send_message(self, outgoingMessage: Any, transportDomain: Any, transportAddress: Any) -> None:
        self.sent.append((bytes(outgoingMessage), transportAddress))


def _engine(users: tuple[SnmpUserSpec, ...], answer: Answer) -> tuple[engine.SnmpEngine, _Collect]:
    """A pysnmp engine that knows `users` and answers read requests with `answer`."""
    snmp_engine = engine.SnmpEngine()
    collect = _Collect()
    snmp_engine.register_transport_dispatcher(collect)
    for user in users:
        config.add_v3_user(snmp_engine, user.user,
                           AUTH[user.auth_protocol] if user.auth_protocol else config.USM_AUTH_NONE, user.auth_key,
                           PRIV[user.priv_protocol] if user.priv_protocol else config.USM_PRIV_NONE, user.priv_key)

    def process_pdu(snmpEngine: Any, messageProcessingModel: Any, securityModel: Any, securityName: Any,
                    securityLevel: Any, contextEngineId: Any, contextName: Any, pduVersion: Any, PDU: Any,
                    maxSizeResponseScopedPDU: Any, stateReference: Any) -> None:
        names = [tuple(oid) for oid, _ in v2c.apiPDU.get_varbinds(PDU)]
        response = v2c.apiPDU.get_response(PDU)
        v2c.apiPDU.set_varbinds(response, answer(PDU, names))
        snmpEngine.message_dispatcher.return_response_pdu(
            snmpEngine, messageProcessingModel, securityModel, securityName, securityLevel, contextEngineId,
            contextName, pduVersion, response, maxSizeResponseScopedPDU, stateReference, {})

    snmp_engine.message_dispatcher.register_context_engine_id(b"", REQUESTS, process_pdu)
    return snmp_engine, collect


def agent(users: tuple[SnmpUserSpec, ...], answer: Answer, churn: bool = False
          ) -> Callable[[bytes, tuple[str, int]], list[tuple[bytes, tuple[str, int]]]]:
    """A datagram handler for SNMPv3 messages; what pysnmp drops gets no reply."""
    current = _engine(users, answer)

    def handle(data: bytes, sender: tuple[str, int]) -> list[tuple[bytes, tuple[str, int]]]:
        snmp_engine, collect = _engine(users, answer) if churn else current
        collect.sent.clear()
        try:
            if churn:
                data = _forget_engine(data)
            snmp_engine.message_dispatcher.receive_message(snmp_engine, UDP_DOMAIN, sender, data)
        except (PyAsn1Error, PySnmpError, ValueError):
            return []
        return [(message, sender) for message, _ in collect.sent]
    return handle


def _forget_engine(data: bytes) -> bytes:
    """The message as an engine discovery (RFC 3414 §4): empty msgAuthoritativeEngineID,
    noAuthNoPriv, an empty plaintext GET; its msgID stays, so the Report answers it."""
    message, _ = decoder.decode(data, asn1Spec=SNMPv3Message())
    params, _ = decoder.decode(bytes(message["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters())
    params["msgAuthoritativeEngineId"] = b""
    params["msgAuthenticationParameters"] = params["msgPrivacyParameters"] = b""
    message["msgSecurityParameters"] = encoder.encode(params)
    message["msgGlobalData"]["msgFlags"] = b"\x04"
    request = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(request)
    scoped = message["msgData"]["plaintext"]
    scoped["contextEngineId"] = scoped["contextName"] = b""
    scoped["data"]["get-request"] = request
    return bytes(encoder.encode(message))

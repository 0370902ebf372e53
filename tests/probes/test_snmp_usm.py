"""The SNMPv3 USM code: RFC 3414 key vectors, pysnmp's USM as the other side, hostile bytes."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.type import univ
from pysnmp.proto.secmod.rfc3414 import localkey

from camaudit.lab.persona_snmp import Snmp, SnmpUserSpec
from camaudit.model import Bounds, Datagram
from camaudit.lab.server import snmp as lab_agent
from camaudit.probes import snmp_ber
from camaudit.probes import snmp_usm as usm

ENGINE = bytes.fromhex("000000000000000000000002")   # RFC 3414 A.3
SENDER = ("198.18.0.1", 40000)
DESCR = "Huawei Versatile Routing Platform Software"


@pytest.mark.parametrize("hash_name, master, localized", [
    ("md5", "9faf3283884e92834ebc9847d8edd963", "526f5eed9fcce26f8964c2930787d82b"),                  # A.3.1
    ("sha1", "9fb5cc0381497b3793528939ff788d5d79145211", "6695febc9288e36282235fc7151f128497b38f3f"),  # A.3.2
])
def test_rfc3414_key_localisation_vectors(hash_name: str, master: str, localized: str) -> None:
    ku = usm.password_to_key(hash_name, b"maplesyrup")
    assert ku.hex() == master
    assert usm.localize(hash_name, ku, ENGINE).hex() == localized


@pytest.mark.parametrize("name", ["sha224", "sha256", "sha384", "sha512"])
def test_sha2_keys_equal_pysnmps(name: str) -> None:
    """RFC 7860 §9.3 reuses RFC 3414's algorithm with SHA-2 and gives no vectors: pysnmp's
    implementation is the reference."""
    hash_name = usm.AUTH[name][0]
    ours = usm.localize(hash_name, usm.password_to_key(hash_name, b"maplesyrup"), ENGINE)
    assert ours == bytes(localkey.password_to_key(b"maplesyrup", univ.OctetString(ENGINE), getattr(hashlib, hash_name)))
    assert usm.AUTH[name][1] == {"sha224": 16, "sha256": 24, "sha384": 32, "sha512": 48}[name]  # RFC 7860 §4.2.2


class _Normal:
    name = "normal"
    options: dict[str, Any] = {}


def _agent_and_engine(users: tuple[SnmpUserSpec, ...]) -> tuple[Any, usm.Engine]:
    handle = lab_agent.agent(Snmp(None, {"1.3.6.1.2.1.1.1.0": DESCR}, _Normal(), users))
    reply = handle(usm.message(None, None, 1, snmp_ber.pdu(snmp_ber.GET, [], 0)), SENDER)
    found = usm.parse(reply[0][0], None)
    assert found.msg_id == 1 and found.report() is not None and found.report()[0] == "4.0"
    return handle, found.engine


@pytest.mark.parametrize("auth", sorted(usm.AUTH))
@pytest.mark.parametrize("priv", [None, "aes"])
def test_pysnmps_usm_accepts_every_protocol_and_we_read_its_answer(auth: str, priv: str | None) -> None:
    spec = SnmpUserSpec("ops", auth, "auth-passphrase", priv, "priv-passphrase" if priv else None)
    handle, engine = _agent_and_engine((spec,))
    user = usm.SnmpUser("ops", auth, "auth-passphrase", priv, "priv-passphrase" if priv else "")
    wire = usm.message(user, engine, 2, snmp_ber.pdu(snmp_ber.GET, ["1.3.6.1.2.1.1.1.0"], 77))
    reply = handle(wire, SENDER)[0][0]
    assert (DESCR.encode() in reply) is (priv is None)   # authPriv: the answer crossed encrypted
    got = usm.parse(reply, user)
    assert (got.msg_id, got.request_id, got.report()) == (2, 77, None)
    assert got.flags & 0x03 == user.flags & 0x03
    assert got.varbinds == [("1.3.6.1.2.1.1.1.0", DESCR)]


def test_a_forged_digest_or_another_key_is_refused() -> None:
    spec = SnmpUserSpec("ops", "sha", "auth-passphrase", "aes", "priv-passphrase")
    handle, engine = _agent_and_engine((spec,))
    user = usm.SnmpUser("ops", "sha", "auth-passphrase", "aes", "priv-passphrase")
    reply = bytearray(handle(usm.message(user, engine, 3, snmp_ber.pdu(snmp_ber.GET, ["1.3.6.1.2.1.1.1.0"], 5)), SENDER)[0][0])
    reply[-1] ^= 0x01   # one bit of the encrypted PDU
    with pytest.raises(snmp_ber.BerError, match="digest"):
        usm.parse(bytes(reply), user)
    other = usm.SnmpUser("ops", "sha", "another-passphrase", "aes", "priv-passphrase")
    reply[-1] ^= 0x01
    with pytest.raises(snmp_ber.BerError, match="digest"):
        usm.parse(bytes(reply), other)


def test_keys_are_localised_once_per_engine() -> None:
    user = usm.SnmpUser("ops", "sha", "auth-passphrase", "aes", "priv-passphrase")
    first = user.keys(ENGINE)
    assert user.keys(ENGINE) is first and user.keys(b"\x80" + ENGINE) != first
    assert "passphrase" not in repr(user)


def test_absurd_lengths_in_a_v3_reply_cost_nothing() -> None:
    """Security parameters, engine ID and user name claiming more than is there or than RFC
    3411 allows are refused before any copy."""
    header = bytes.fromhex("020103300e020101020300ffe3040100020103")
    tracemalloc.start()
    for body in (header + bytes.fromhex("04847fffffff3000"),
                 header + bytes.fromhex("04263024") + bytes.fromhex("0421") + b"\x80" * 33
                 + bytes.fromhex("020100020100"),
                 header + bytes.fromhex("0484ffffffff")):
        with pytest.raises(snmp_ber.BerError):
            usm.parse(snmp_ber._tlv(snmp_ber.SEQUENCE, body), None)
    assert tracemalloc.get_traced_memory()[1] < 64 * 1024
    tracemalloc.stop()


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 400), st.integers(0, 255))
def test_every_single_byte_corruption_of_a_real_v3_reply_is_handled(where: int, byte: int) -> None:
    user = usm.SnmpUser("ops", "sha256", "auth-passphrase", "aes", "priv-passphrase")
    wire = bytearray(_REPLY)
    wire[where % len(wire)] = byte
    try:
        usm.parse(bytes(wire), user)
    except snmp_ber.BerError:
        pass


def _real_reply() -> bytes:
    spec = SnmpUserSpec("ops", "sha256", "auth-passphrase", "aes", "priv-passphrase")
    handle, engine = _agent_and_engine((spec,))
    user = usm.SnmpUser("ops", "sha256", "auth-passphrase", "aes", "priv-passphrase")
    return handle(usm.message(user, engine, 4, snmp_ber.pdu(snmp_ber.GET, ["1.3.6.1.2.1.1.1.0"], 9)), SENDER)[0][0]


_REPLY = _real_reply()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_a_ber_error_or_a_reply(data: bytes) -> None:
    try:
        usm.parse(data, usm.SnmpUser("ops", "sha", "auth-passphrase"))
    except snmp_ber.BerError:
        pass


def test_users_are_validated_without_quoting_a_passphrase() -> None:
    secret = "short"
    for bad, expect in [([{"user": "ops", "auth_protocol": "sha", "auth_key": secret}], "at least|8 to"),
                        ([{"user": "ops", "auth_protocol": "sha1", "auth_key": "long-enough"}], "auth_protocol must be one of"),
                        ([{"user": "ops", "auth_protocol": "sha", "auth_key": "long-enough", "priv_protocol": "des",
                           "priv_key": "long-enough"}], "'des' is not supported"),
                        ([{"user": "ops", "priv_protocol": "aes", "priv_key": "long-enough"}], "without auth_protocol"),
                        ([{"user": "ops", "auth_key": "long-enough"}], "without auth_protocol"),
                        ([{"user": "", "auth_protocol": "sha", "auth_key": "long-enough"}], "needs user"),
                        ([{"user": "ops", "password": secret}], "unknown key"),
                        ("ops:sha:secret", "config file only"),
                        ([{"user": f"u{i}"} for i in range(5)], "at most 4")]:
        with pytest.raises(ValueError, match=expect) as err:
            usm.parse_users(bad)
        assert "short" not in str(err.value) and "long-enough" not in str(err.value)
    ok = usm.parse_users([{"user": "ops", "auth_protocol": "SHA256", "auth_key": "long-enough"}, {"user": "mon"}])
    assert [(u.level, u.auth) for u in ok] == [("authNoPriv", "sha256"), ("noAuthNoPriv", None)]


class _AgentInProcess:
    """`ProbeContext.exchange` answered by the lab agent's handler in this process (pysnmp's
    USM), so the session's retry logic meets real Reports without a network."""

    bounds = Bounds()

    def __init__(self, handle: Any) -> None:
        self.handle, self.sent = handle, 0

    async def exchange(self, ip: str, port: int, payload: bytes, *, wait: float) -> Datagram | None:
        self.sent += 1
        replies = self.handle(payload, SENDER)
        return Datagram(ip, port, replies[0][0]) if replies else None


def test_out_of_the_time_window_is_resynchronised_once() -> None:
    """A stale engine time (the agent rebooted: boots moved on) gets an authenticated
    usmStatsNotInTimeWindows Report; the session adopts its boots/time and asks once more."""
    spec = SnmpUserSpec("ops", "sha", "auth-passphrase", "aes", "priv-passphrase")
    handle, engine = _agent_and_engine((spec,))
    user = usm.SnmpUser("ops", "sha", "auth-passphrase", "aes", "priv-passphrase")
    ctx = _AgentInProcess(handle)
    session = usm.Session("198.18.0.80", ctx)  # type: ignore[arg-type]
    session.engine = usm.Engine(engine.id, engine.boots + 7, engine.time + 100_000)
    session.discoveries = 1
    got = asyncio.run(session.ask(user, snmp_ber.GET, ["1.3.6.1.2.1.1.1.0"]))
    assert got == [("1.3.6.1.2.1.1.1.0", DESCR)] and ctx.sent == 2
    assert session.engine.boots == engine.boots


def test_a_wrong_priv_key_is_a_status_not_a_crash() -> None:
    spec = SnmpUserSpec("ops", "sha", "auth-passphrase", "aes", "priv-passphrase")
    handle, _ = _agent_and_engine((spec,))
    ctx = _AgentInProcess(handle)
    user = usm.SnmpUser("ops", "sha", "auth-passphrase", "aes", "other-priv-passphrase")
    status, reason = asyncio.run(usm.Session("198.18.0.80", ctx).ask(user, snmp_ber.GET, ["1.3.6.1.2.1.1.1.0"]))  # type: ignore[arg-type, misc]
    assert status.value == "error" and "usmStatsDecryptionErrors" in reason and "check priv_key" in reason
    assert "other-priv" not in reason

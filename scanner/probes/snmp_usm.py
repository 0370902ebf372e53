"""SNMPv3 user-based security (RFC 3414 USM) for the SNMP probe, read-only.

Only users the operator configured (`[[snmp.users]]`, docs/operations.md) are ever tried.
One exchange per device discovers the agent's engine (RFC 3414 §4: a noAuthNoPriv request
with an empty engine ID is answered by a usmStatsUnknownEngineIDs Report that carries
msgAuthoritativeEngineID, boots and time); the user's passphrases become keys localised to
that engine (RFC 3414 §2.6, A.2: 1 MiB of the repeated passphrase hashed, then
H(Ku | engineID | Ku)), cached on the user per engine for the scan. Messages are signed
with HMAC-96 (MD5, SHA-1; RFC 3414 §6, §7) or the RFC 7860 HMAC-SHA-2 truncations, and
scoped PDUs encrypted with AES-128-CFB (RFC 3826, through `cryptography`). DES (RFC 3414
§8) is refused by the configuration: it is broken and AES is what agents offer.

The BER shapes are `camaudit.probes.snmp`'s (one bounded reader); everything read from a
reply is checked against the bytes that are there, engine IDs and user names against
their RFC 3411 sizes, and a device gets at most MAX_DISCOVERIES engine discoveries and one
time-window resynchronisation, whatever it answers. No message, error or observation
carries a passphrase or a key: errors name the user by position.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from camaudit.observation import ProbeStatus
from camaudit.probes.base import ProbeContext
from camaudit.probes.snmp_ber import (ATTEMPTS, GET, INTEGER, OCTETS, PORT, SEQUENCE, BerError, _decode_int,
                                      _expect, _int, _request_ids, _tlv, parse_pdu, pdu)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher

# name -> (hashlib name, HMAC truncation in bytes): RFC 3414 §6-7 (md5, sha), RFC 7860 §4.2.
AUTH = {"md5": ("md5", 12), "sha": ("sha1", 12), "sha224": ("sha224", 16),
        "sha256": ("sha256", 24), "sha384": ("sha384", 32), "sha512": ("sha512", 48)}
PRIV = ("aes",)            # AES-128-CFB, RFC 3826
MIN_KEY_CHARS = 8          # RFC 3414 §11.2: shorter passphrases are refused
MAX_KEY_BYTES = 255
MAX_USER_BYTES = 32        # RFC 3414 usmUserName: SnmpAdminString (SIZE(1..32))
MAX_ENGINE_ID = 32         # RFC 3411 SnmpEngineID: 5..32 octets
MAX_USERS = 4
MAX_DISCOVERIES = 2        # a first discovery, then one more when the engine ID changed
MAX_CACHED_ENGINES = 4096  # localised keys kept per user per scan (about 100 bytes each)
MSG_MAX_SIZE = 65507       # what the scanner accepts (a UDP payload)
PASSWORD_SPAN = 1 << 20    # RFC 3414 A.2: one megabyte of the repeated passphrase
USM = 3                    # msgSecurityModel
AUTH_FLAG, PRIV_FLAG, REPORTABLE = 0x01, 0x02, 0x04
REPORT = 0xA8
USM_STATS = "1.3.6.1.6.3.15.1.1."
REPORTS = {  # usmStats counters (RFC 3414 §5) -> what the user can do about it
    "1.0": "the agent refuses this security level for the user (usmStatsUnsupportedSecLevels)",
    "2.0": "not in the agent's time window (usmStatsNotInTimeWindows)",
    "3.0": "the agent does not know this user name (usmStatsUnknownUserNames)",
    "4.0": "the agent does not know the engine ID (usmStatsUnknownEngineIDs)",
    "5.0": "wrong digest: check auth_key and auth_protocol (usmStatsWrongDigests)",
    "6.0": "the agent could not decrypt: check priv_key and priv_protocol (usmStatsDecryptionErrors)",
}
FIELDS = {"user", "auth_protocol", "auth_key", "priv_protocol", "priv_key"}


@dataclass(frozen=True)
class SnmpUser:
    """A configured SNMPv3 user; `repr` and errors never show the passphrases."""

    name: str
    auth: str | None = None
    auth_key: str = field(default="", repr=False)
    priv: str | None = None
    priv_key: str = field(default="", repr=False)
    _keys: dict[bytes, tuple[bytes, bytes]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def level(self) -> str:
        return "authPriv" if self.priv else "authNoPriv" if self.auth else "noAuthNoPriv"

    @property
    def flags(self) -> int:
        return REPORTABLE | (AUTH_FLAG if self.auth else 0) | (PRIV_FLAG if self.priv else 0)

    @functools.cached_property
    def _masters(self) -> tuple[bytes, bytes]:
        """(auth Ku, priv Ku): the 1 MiB digests, once per user, whatever the engines."""
        hash_name = AUTH[self.auth or "sha"][0]
        return (password_to_key(hash_name, self.auth_key.encode()),
                password_to_key(hash_name, self.priv_key.encode()) if self.priv else b"")

    def keys(self, engine_id: bytes) -> tuple[bytes, bytes]:
        """(auth key, priv key) localised to `engine_id`, computed once per engine per scan."""
        if not self.auth:
            return b"", b""
        cached = self._keys.get(engine_id)
        if cached is None:
            hash_name = AUTH[self.auth][0]
            auth_master, priv_master = self._masters
            cached = (localize(hash_name, auth_master, engine_id),
                      localize(hash_name, priv_master, engine_id) if self.priv else b"")
            if len(self._keys) < MAX_CACHED_ENGINES:
                self._keys[engine_id] = cached
        return cached


def password_to_key(hash_name: str, password: bytes) -> bytes:
    """RFC 3414 A.2: the digest of 1 MiB of the passphrase repeated (Ku, the user's master key)."""
    repeated = password * (PASSWORD_SPAN // len(password) + 1)
    return hashlib.new(hash_name, repeated[:PASSWORD_SPAN]).digest()


def localize(hash_name: str, master: bytes, engine_id: bytes) -> bytes:
    """RFC 3414 §2.6: Kul = H(Ku | snmpEngineID | Ku), the key only that engine accepts."""
    return hashlib.new(hash_name, master + engine_id + master).digest()


def parse_users(value: Any) -> list[SnmpUser]:
    """`[[snmp.users]]` tables as users; ValueError names the entry and key, never a value."""
    if isinstance(value, str):
        raise ValueError("is read from [[snmp.users]] tables in the config file only "
                         "(passphrases do not belong in the environment or on a command line)")
    if not isinstance(value, list) or len(value) > MAX_USERS:
        raise ValueError(f"must be at most {MAX_USERS} [[snmp.users]] tables")
    users = []
    for index, item in enumerate(value, 1):
        where = f"entry #{index}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be a table with user, auth_protocol, auth_key, priv_protocol, priv_key")
        if unknown := sorted(set(item) - FIELDS):
            raise ValueError(f"{where} has unknown key {unknown[0]!r} (known: {', '.join(sorted(FIELDS))})")
        name = item.get("user")
        if not isinstance(name, str) or not 0 < len(name.encode()) <= MAX_USER_BYTES:
            raise ValueError(f"{where} needs user = a name of 1 to {MAX_USER_BYTES} bytes")
        auth, priv = _protocol(item, "auth_protocol", AUTH, where), _protocol(item, "priv_protocol", PRIV, where)
        if priv and not auth:
            raise ValueError(f"{where} sets priv_protocol without auth_protocol (authPriv needs both)")
        for proto, key in ((auth, "auth_key"), (priv, "priv_key")):
            secret = item.get(key)
            if proto is None and secret is not None:
                raise ValueError(f"{where} sets {key} without {key[:4]}_protocol")
            if proto is not None and (not isinstance(secret, str) or len(secret) < MIN_KEY_CHARS
                                      or len(secret.encode()) > MAX_KEY_BYTES):
                raise ValueError(f"{where} needs {key} = a passphrase of {MIN_KEY_CHARS} to {MAX_KEY_BYTES} "
                                 "characters (RFC 3414 §11.2; value not shown: it is a secret)")
        users.append(SnmpUser(name, auth, item.get("auth_key", ""), priv, item.get("priv_key", "")))
    return users


def _protocol(item: dict[str, Any], key: str, known: Any, where: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == "des" and key == "priv_protocol":
        raise ValueError(f"{where}: priv_protocol 'des' is not supported (DES is broken); "
                         "configure the device and camaudit for aes")
    if not isinstance(value, str) or value.strip().lower() not in known:
        raise ValueError(f"{where}: {key} must be one of {', '.join(known)} (got {value!r})")
    return value.strip().lower()


# --- messages ----------------------------------------------------------------------------------

@dataclass
class Engine:
    """The authoritative engine of a device, as its last Report or Response told it."""

    id: bytes
    boots: int
    time: int
    at: float = field(default_factory=time.monotonic)

    def now(self) -> int:
        """engineTime now, as the agent counts it (RFC 3414 §2.3: the copy ticks with us)."""
        return min(self.time + int(time.monotonic() - self.at), 0x7FFFFFFF)


def _octets(raw: bytes) -> bytes:
    return _tlv(OCTETS, raw)


def _aes(key: bytes, engine: Engine, salt: bytes, engine_time: int) -> Cipher[Any]:
    """RFC 3826 §3.1.2.1: IV = boots | time | salt (4 + 4 + 8 octets), key = first 16 octets."""
    # imported here: `cryptography` costs ≈ 80 ms of every scan's start-up, and only a
    # configured SNMPv3 user with privacy needs it
    from cryptography.hazmat.decrepit.ciphers.modes import CFB  # CFB's home since cryptography 47
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    iv = engine.boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
    return Cipher(algorithms.AES(key[:16]), CFB(iv))


def message(user: SnmpUser | None, engine: Engine | None, msg_id: int, request_pdu: bytes) -> bytes:
    """An SNMPv3 message; `user` None is the engine discovery (empty user, noAuthNoPriv)."""
    flags = user.flags if user and engine else REPORTABLE
    engine_id, boots, engine_time = (engine.id, engine.boots, engine.now()) if engine else (b"", 0, 0)
    auth_key, priv_key = user.keys(engine_id) if user and engine else (b"", b"")
    scoped = _tlv(SEQUENCE, _octets(engine_id) + _octets(b"") + request_pdu)
    salt = b""
    if flags & PRIV_FLAG and engine:
        salt = os.urandom(8)
        encryptor = _aes(priv_key, engine, salt, engine_time).encryptor()
        scoped = _octets(encryptor.update(scoped) + encryptor.finalize())
    digest_len = AUTH[user.auth][1] if user and user.auth and flags & AUTH_FLAG else 0
    sec_head = _octets(engine_id) + _int(boots) + _int(engine_time) + _octets(user.name.encode() if user else b"")
    sec_body = sec_head + _octets(bytes(digest_len)) + _octets(salt)
    sec = _tlv(SEQUENCE, sec_body)
    sec_wrapped = _octets(sec)
    before = _int(3) + _tlv(SEQUENCE, _int(msg_id) + _int(MSG_MAX_SIZE) + _octets(bytes((flags,))) + _int(USM))
    body = before + sec_wrapped + scoped
    wire = _tlv(SEQUENCE, body)
    if not digest_len or user is None:
        return wire
    # the digest's place: past the TLV headers in front of it (its own is 2 bytes: at most 48 long)
    at = (len(wire) - len(body)) + len(before) + (len(sec_wrapped) - len(sec)) + (len(sec) - len(sec_body)) \
        + len(sec_head) + 2
    return wire[:at] + _digest(user, auth_key, wire)[:digest_len] + wire[at + digest_len:]


def _digest(user: SnmpUser, auth_key: bytes, whole: bytes) -> bytes:
    return hmac.new(auth_key, whole, AUTH[user.auth or "sha"][0]).digest()


@dataclass
class Reply:
    """A decoded v3 reply: its header, engine, and the scoped PDU's contents."""

    msg_id: int
    flags: int
    engine: Engine
    user: bytes
    pdu_tag: int
    request_id: int
    error_status: int
    varbinds: list[tuple[str, str | None]]

    def report(self) -> tuple[str, str] | None:
        """(usmStats counter, what it means in words) of a Report PDU; None for a Response."""
        if self.pdu_tag != REPORT:
            return None
        for oid, _ in self.varbinds:
            if oid.startswith(USM_STATS) and oid[len(USM_STATS):] in REPORTS:
                return oid[len(USM_STATS):], REPORTS[oid[len(USM_STATS):]]
        return "", "the agent sent a Report: " + (self.varbinds[0][0] if self.varbinds else "without a varbind")


def parse(data: bytes, user: SnmpUser | None) -> Reply:
    """A v3 reply, its digest checked and its scoped PDU decrypted with `user`'s keys when its
    flags say so; BerError for anything malformed, forged or not for `user`."""
    start, end = _expect(data, 0, len(data), SEQUENCE, "message")
    v_start, pos = _expect(data, start, end, INTEGER, "version")
    if data[v_start:pos] != b"\x03":
        raise BerError("not an SNMPv3 message")
    h_start, h_end = _expect(data, pos, end, SEQUENCE, "header")
    header = []
    cursor = h_start
    for what, tag in (("msgID", INTEGER), ("msgMaxSize", INTEGER), ("msgFlags", OCTETS), ("msgSecurityModel", INTEGER)):
        f_start, cursor = _expect(data, cursor, h_end, tag, what)
        header.append(data[f_start:cursor])
    if len(header[2]) != 1 or _decode_int(header[3]) != USM:
        raise BerError("not a user-based security model header")
    msg_id, flags = _decode_int(header[0]), header[2][0]
    s_start, s_end = _expect(data, h_end, end, OCTETS, "msgSecurityParameters")
    p_start, p_end = _expect(data, s_start, s_end, SEQUENCE, "UsmSecurityParameters")
    params: list[tuple[int, int]] = []
    cursor = p_start
    for what, tag in (("engine ID", OCTETS), ("boots", INTEGER), ("time", INTEGER), ("user name", OCTETS),
                      ("authentication parameters", OCTETS), ("privacy parameters", OCTETS)):
        f_start, cursor = _expect(data, cursor, p_end, tag, what)
        params.append((f_start, cursor))
    engine_id, user_name, salt = (data[a:b] for a, b in (params[0], params[3], params[5]))
    if len(engine_id) > MAX_ENGINE_ID or len(user_name) > MAX_USER_BYTES:
        raise BerError(f"engine ID of {len(engine_id)} or user name of {len(user_name)} bytes")
    boots, engine_time = (_decode_int(data[a:b]) for a, b in (params[1], params[2]))
    if not (0 <= boots <= 0x7FFFFFFF and 0 <= engine_time <= 0x7FFFFFFF):
        raise BerError("engine boots or time out of range")
    engine = Engine(engine_id, boots, engine_time)
    scoped_at = s_end
    if flags & AUTH_FLAG:
        if user is None or not user.auth:
            raise BerError("an authenticated reply to an unauthenticated request")
        auth_key, priv_key = user.keys(engine_id)
        digest_len = AUTH[user.auth][1]
        a_start, a_end = params[4]
        if a_end - a_start != digest_len:
            raise BerError(f"authentication parameters of {a_end - a_start} bytes, not {digest_len}")
        zeroed = data[:a_start] + bytes(digest_len) + data[a_end:]
        if not hmac.compare_digest(_digest(user, auth_key, zeroed)[:digest_len], data[a_start:a_end]):
            raise BerError("the reply's digest is wrong (not from the agent, or another key)")
        if flags & PRIV_FLAG:
            if not user.priv or len(salt) != 8:
                raise BerError("an encrypted reply without AES privacy parameters")
            e_start, e_end = _expect(data, s_end, end, OCTETS, "encryptedPDU")
            decryptor = _aes(priv_key, engine, salt, engine_time).decryptor()
            data = decryptor.update(data[e_start:e_end]) + decryptor.finalize()
            scoped_at, end = 0, e_end - e_start
    elif flags & PRIV_FLAG:
        raise BerError("privacy without authentication (msgFlags 0x02)")
    sc_start, sc_end = _expect(data, scoped_at, end, SEQUENCE, "scopedPDU")
    _, cursor = _expect(data, sc_start, sc_end, OCTETS, "contextEngineID")
    _, cursor = _expect(data, cursor, sc_end, OCTETS, "contextName")
    pdu_tag, request_id, error_status, varbinds = parse_pdu(data, cursor, sc_end)
    return Reply(msg_id, flags, engine, user_name, pdu_tag, request_id, error_status, varbinds)


# --- asking a device ------------------------------------------------------------------------

NOT_IN_TIME, UNKNOWN_ENGINE = "2.0", "4.0"


class Session:
    """The SNMPv3 exchanges with one device: its engine is discovered once, shared by the users
    tried on it, and re-learnt at most MAX_DISCOVERIES times in all."""

    def __init__(self, ip: str, ctx: ProbeContext) -> None:
        self.ip, self.ctx = ip, ctx
        self.engine: Engine | None = None
        self.discoveries = 0
        self.no_engine: tuple[ProbeStatus, str] | None = None  # a failed discovery, not repeated per user

    async def ask(self, user: SnmpUser, pdu_type: int, oids: list[str],
                  max_repetitions: int = 0) -> list[tuple[str, str | None]] | tuple[ProbeStatus, str]:
        """The varbinds `user` is given, or (status, reason); never more than
        MAX_DISCOVERIES discoveries and one time-window resynchronisation."""
        resynced = False
        for _ in range(MAX_DISCOVERIES + 3):
            if self.no_engine:
                return self.no_engine
            if self.engine is None:
                self.discoveries += 1
                found = await self._exchange(None, pdu(GET, [], 0))
                if isinstance(found, tuple):
                    self.no_engine = found
                elif found.report() is None or len(found.engine.id) < 5:
                    self.no_engine = (ProbeStatus.PROTOCOL_ERROR,
                                      "engine discovery was not answered by a Report with an engine ID")
                else:
                    self.engine = found.engine
                continue
            request_id = next(_request_ids) & 0x7FFFFFFF
            got = await self._exchange(user, pdu(pdu_type, oids, request_id, max_repetitions=max_repetitions))
            if isinstance(got, tuple):
                return got
            report = got.report()
            if report is None:
                if got.flags & 0x03 != user.flags & 0x03 or got.engine.id != self.engine.id:
                    return ProbeStatus.PROTOCOL_ERROR, f"the agent answered below {user.level} or for another engine"
                if got.request_id != request_id:
                    return ProbeStatus.PROTOCOL_ERROR, f"answers request {got.request_id}, not {request_id}"
                if got.error_status:
                    return ProbeStatus.PROTOCOL_ERROR, f"agent answered error-status {got.error_status}"
                return got.varbinds
            counter, meaning = report
            if counter == UNKNOWN_ENGINE and got.engine.id != self.engine.id:
                if self.discoveries >= MAX_DISCOVERIES:
                    return ProbeStatus.PROTOCOL_ERROR, (f"the agent's engine ID changed again after "
                                                        f"{self.discoveries} discoveries")
                self.discoveries += 1   # the Report is itself a discovery: it names the new engine
                self.engine = got.engine
                continue
            if counter == NOT_IN_TIME and not resynced and got.engine.id == self.engine.id:
                resynced, self.engine = True, got.engine
                continue
            return ProbeStatus.ERROR, f"SNMPv3 {user.level}: {meaning}"
        return ProbeStatus.PROTOCOL_ERROR, "the agent kept answering with Reports"

    async def _exchange(self, user: SnmpUser | None, request_pdu: bytes) -> Reply | tuple[ProbeStatus, str]:
        """The first well-formed reply to our message ID, or (status, reason) after ATTEMPTS tries."""
        for _ in range(ATTEMPTS):
            msg_id = next(_request_ids) & 0x7FFFFFFF
            reply = await self.ctx.exchange(self.ip, PORT, message(user, self.engine, msg_id, request_pdu),
                                            wait=self.ctx.bounds.connect_timeout)
            if reply is None:
                continue
            if reply.truncated:
                return ProbeStatus.TOO_LARGE, f"reply larger than {len(reply.data)} bytes"
            try:
                got = parse(reply.data, user)
            except BerError as exc:
                return ProbeStatus.PROTOCOL_ERROR, f"unreadable SNMPv3 reply: {exc}"
            if got.msg_id != msg_id:
                return ProbeStatus.PROTOCOL_ERROR, f"answers message {got.msg_id}, not {msg_id}"
            return got
        return ProbeStatus.TIMEOUT, "no answer"

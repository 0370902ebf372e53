"""Personas: simulated devices described as data (TOML), loaded and validated here.

A persona file holds one device: its ground truth, its address, and what it answers on
each protocol. The server (`camaudit.lab.server`) only interprets these records, so a new
device — or a new hostile behaviour of an existing port — is a data change, not code.
The schema is documented in docs/lab.md; every error names the file and the key.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from camaudit.lab.persona_chatter import Chatter, chatter_section
from camaudit.lab import net6
from camaudit.lab.persona_net import net_section
from camaudit.lab.persona_mdns import Mdns, parse_hostname, parse_services
from camaudit.lab.persona_snmp import EXTRA_BEHAVIOURS as SNMP_EXTRA_BEHAVIOURS, Snmp, snmp_section

SHIPPED_DIR = Path(__file__).parent / "personas"

# What a port does with a connection or datagram. "normal" answers as the persona says;
# the others are the hook for hostile devices (docs/lab.md lists them).
TCP_BEHAVIOURS = frozenset({"normal", "silent", "reset", "drip", "endless"})
UDP_BEHAVIOURS = frozenset({"normal", "silent", "raw", "flood", "late"})
REPLY_TARGETS = frozenset({"sender", "multicast", "broadcast"})
WSD_VERSIONS = frozenset({"2005", "2009"})  # WS-Discovery 2005/04 and OASIS 1.1 (2009/01)
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class PersonaError(ValueError):
    """A persona file is invalid; the message is `file: key: what is wrong`."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One canned reply of a text protocol (HTTP or RTSP): status line, headers, body.

    Headers are written exactly as given (order and case), so a persona can reproduce the
    byte layout real firmware sends; no header is added implicitly.
    """

    status: int
    reason: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    path: str | None = None       # HTTP: request target this answers (None: any)
    method: str | None = None     # request method this answers (None: any)
    close: bool = False           # RTSP: close the connection after this answer (HTTP always does)


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a port misbehaves (or not): a name from TCP_/UDP_BEHAVIOURS plus its options."""

    name: str = "normal"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TlsSpec:
    subject: str   # RFC 4514, e.g. "CN=www.hikvision.com,O=HIKVISION,C=CN"
    issuer: str


@dataclass(frozen=True, slots=True)
class HttpPort:
    port: int
    answers: tuple[Answer, ...]
    not_found: Answer
    tls: TlsSpec | None = None
    behaviour: Behaviour = Behaviour()


@dataclass(frozen=True, slots=True)
class RtspPort:
    port: int
    answers: tuple[Answer, ...]   # matched by method; method None is the fallback
    behaviour: Behaviour = Behaviour()


@dataclass(frozen=True, slots=True)
class TcpReply:
    match: bytes   # the client's bytes start with this
    reply: bytes


@dataclass(frozen=True, slots=True)
class TcpPort:
    """A raw TCP service: a banner on connect and/or replies to known request prefixes."""

    port: int
    banner: bytes
    replies: tuple[TcpReply, ...] = ()
    behaviour: Behaviour = Behaviour()


@dataclass(frozen=True, slots=True)
class Onvif:
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    xaddrs: tuple[str, ...]
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str
    device_info_auth: bool
    http_port: int
    behaviour: Behaviour = Behaviour()
    wsd_versions: frozenset[str] = WSD_VERSIONS   # the WS-Discovery dialects it answers


@dataclass(frozen=True, slots=True)
class Discovery:
    """A discovery responder (SADP, DHIP, SSDP): the fields (SSDP: headers) of its reply."""

    fields: dict[str, Any]
    reply_to: tuple[str, ...]
    behaviour: Behaviour = Behaviour()


@dataclass(frozen=True, slots=True)
class Truth:
    vendor: str | None      # whose hardware/firmware (lineage); None for unknown/generic
    brand: str | None       # label it is sold under
    model: str | None
    flagged: bool
    device_type: str | None = None
    firmware: str | None = None
    serial: str | None = None


@dataclass(frozen=True, slots=True)
class Persona:
    id: str
    description: str
    source: Path
    truth: Truth
    segment: str
    ip: str | None           # fixed address of a shipped persona (None: assigned by the lab)
    mac: str | None          # fixed MAC, or None when only `oui` is given
    oui: str                 # first three octets (from `mac` when given)
    http: tuple[HttpPort, ...] = ()
    rtsp: RtspPort | None = None
    tcp: tuple[TcpPort, ...] = ()
    onvif: Onvif | None = None
    sadp: Discovery | None = None
    dhip: Discovery | None = None
    ssdp: Discovery | None = None   # UPnP search replies; the description is an [[http]] answer
    mdns: Mdns | None = None
    snmp: Snmp | None = None      # camaudit.lab.persona_snmp
    chatter: Chatter | None = None  # unsolicited announcements (camaudit.lab.persona_chatter)
    ipv6: str | None = None       # fixed IPv6 address or "eui64" (camaudit.lab.net6); with no `ip`: IPv6 only

    @property
    def tcp_ports(self) -> list[int]:
        ports = [h.port for h in self.http] + [t.port for t in self.tcp]
        if self.rtsp:
            ports.append(self.rtsp.port)
        return sorted(ports)


class _Reader:
    """Typed access to one TOML table that reports `file: key.path: problem`."""

    def __init__(self, data: dict[str, Any], source: Path, where: str = "") -> None:
        self.data, self.source, self.where = data, source, where
        self.used: set[str] = set()

    def fail(self, key: str, msg: str) -> PersonaError:
        path = f"{self.where}.{key}" if self.where else key
        return PersonaError(f"{self.source}: {path}: {msg}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required or default is ...:
                raise self.fail(key, "missing (required)")
            return default
        value = self.data[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {type(value).__name__} {value!r:.60}")
        return value

    def sub(self, key: str, index: int | None = None) -> _Reader | None:
        """The table at `key` (or its `index`-th element for arrays of tables)."""
        value = self.get(key, dict if index is None else list, None)
        if value is None:
            return None
        if index is not None:
            value = value[index]
            if not isinstance(value, dict):
                raise self.fail(f"{key}[{index}]", "expected a table")
        where = f"{self.where}.{key}" if self.where else key
        return _Reader(value, self.source, where + (f"[{index}]" if index is not None else ""))

    def subs(self, key: str) -> list[_Reader]:
        items = self.get(key, list, [])
        return [self.sub(key, i) for i in range(len(items))]  # type: ignore[misc]

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], f"unknown key (known here: {', '.join(sorted(self.used))})")


def _text_or_hex(r: _Reader, key: str, default: bytes | None = b"") -> bytes:
    """`key = "text"` (UTF-8) or `key_hex = "00ff…"` (raw bytes, for binary protocols)."""
    text = r.get(key, str, None)
    hexed = r.get(key + "_hex", str, None)
    if text is not None and hexed is not None:
        raise r.fail(key, f"give {key} or {key}_hex, not both")
    if hexed is not None:
        try:
            return bytes.fromhex(hexed)
        except ValueError:
            raise r.fail(key + "_hex", "not hex digits") from None
    if text is not None:
        return text.encode("utf-8")
    if default is None:
        raise r.fail(key, "missing (required)")
    return default


def _port(r: _Reader, key: str = "port", default: Any = ...) -> int:
    port = r.get(key, int, default)
    if not 1 <= port <= 65535:
        raise r.fail(key, f"port {port} out of range 1-65535")
    return port


def _behaviour(r: _Reader, allowed: frozenset[str]) -> Behaviour:
    name = r.get("behaviour", str, "normal")
    if name not in allowed:
        raise r.fail("behaviour", f"unknown behaviour {name!r} (known: {', '.join(sorted(allowed))})")
    options = dict(r.get("behaviour_options", dict, {}))
    for key, value in options.items():
        if key.endswith("_hex"):
            try:
                bytes.fromhex(str(value))
            except ValueError:
                raise r.fail(f"behaviour_options.{key}", "not hex digits") from None
    return Behaviour(name, options)


_REASONS = {200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found",
            400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 454: "Session Not Found", 500: "Internal Server Error",
            501: "Not Implemented", 503: "Service Unavailable"}


def _headers(r: _Reader) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name, value in r.get("headers", dict, {}).items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if not isinstance(v, str):
                raise r.fail(f"headers.{name}", "header values are strings (or lists of strings)")
            out.append((name, v))
    return tuple(out)


def _answer(r: _Reader, default_version: str, *, with_path: bool) -> Answer:
    status = r.get("status", int, 200)
    ans = Answer(
        status=status,
        reason=r.get("reason", str, _REASONS.get(status, "Status")),
        version=r.get("version", str, default_version),
        headers=_headers(r),
        body=_text_or_hex(r, "body"),
        path=r.get("path", str, None) if with_path else None,
        method=(m.upper() if (m := r.get("method", str, None)) else None),
        close=r.get("close", bool, False),
    )
    r.done()
    return ans


_DEFAULT_404 = Answer(404, "Not Found", "HTTP/1.1",
                      (("Content-Type", "text/html"), ("Content-Length", "{length}"), ("Connection", "close")),
                      b"<html><body>404 Not Found</body></html>")


def _http(r: _Reader) -> HttpPort:
    tls_r = r.sub("tls")
    tls = None
    if tls_r:
        tls = TlsSpec(tls_r.get("subject", str, required=True), tls_r.get("issuer", str, required=True))
        for key in ("subject", "issuer"):
            try:  # placeholders ({ip}) are filled per device; check the rest parses now
                x509.Name.from_rfc4514_string(getattr(tls, key).replace("{", "").replace("}", ""))
            except ValueError as exc:
                raise tls_r.fail(key, f"not an RFC 4514 name: {exc}") from None
        tls_r.done()
    nf = r.sub("not_found")
    answers = []
    for a in r.subs("answer"):
        if "path" not in a.data:
            raise a.fail("path", "missing (required: the request path this answers)")
        answers.append(_answer(a, "HTTP/1.1", with_path=True))
    port = HttpPort(
        port=_port(r),
        answers=tuple(answers),
        not_found=_answer(nf, "HTTP/1.1", with_path=False) if nf else _DEFAULT_404,
        tls=tls,
        behaviour=_behaviour(r, TCP_BEHAVIOURS),
    )
    r.done()
    return port


def _rtsp(r: _Reader) -> RtspPort:
    port = RtspPort(_port(r, default=554),
                    tuple(_answer(a, "RTSP/1.0", with_path=False) for a in r.subs("answer")),
                    _behaviour(r, TCP_BEHAVIOURS))
    if not port.answers:
        raise r.fail("answer", "an RTSP port needs at least one [[rtsp.answer]]")
    r.done()
    return port


def _tcp(r: _Reader) -> TcpPort:
    replies = []
    for rr in r.subs("reply"):
        replies.append(TcpReply(_text_or_hex(rr, "match", None), _text_or_hex(rr, "reply", None)))
        rr.done()
    port = TcpPort(_port(r), _text_or_hex(r, "banner"), tuple(replies), _behaviour(r, TCP_BEHAVIOURS))
    r.done()
    return port


def _strs(r: _Reader, key: str, default: list[str] | None = None) -> tuple[str, ...]:
    values = r.get(key, list, default if default is not None else ...)
    if not all(isinstance(v, str) for v in values):
        raise r.fail(key, "expected a list of strings")
    return tuple(values)


def _onvif(r: _Reader, http_ports: list[int]) -> Onvif:
    o = Onvif(
        types=_strs(r, "types", ["dn:NetworkVideoTransmitter", "tds:Device"]),
        scopes=_strs(r, "scopes"),
        xaddrs=_strs(r, "xaddrs", ["http://{host}/onvif/device_service"]),
        manufacturer=r.get("manufacturer", str, required=True),
        model=r.get("model", str, required=True),
        firmware=r.get("firmware", str, ""),
        serial=r.get("serial", str, ""),
        hardware_id=r.get("hardware_id", str, ""),
        device_info_auth=r.get("device_info_auth", bool, False),
        http_port=_port(r, "http_port", 80),
        behaviour=_behaviour(r, UDP_BEHAVIOURS),
        wsd_versions=frozenset(_strs(r, "wsd_versions", sorted(WSD_VERSIONS))),
    )
    if not o.wsd_versions or o.wsd_versions - WSD_VERSIONS:
        raise r.fail("wsd_versions", f"expected some of {sorted(WSD_VERSIONS)}, got {sorted(o.wsd_versions)}")
    if o.http_port not in http_ports:
        raise r.fail("http_port", f"ONVIF SOAP needs an [[http]] entry on port {o.http_port}")
    r.done()
    return o


def _discovery(r: _Reader, fields_key: str) -> Discovery:
    reply_to = _strs(r, "reply_to", ["sender", "multicast"])
    bad = set(reply_to) - REPLY_TARGETS
    if bad or not reply_to:
        raise r.fail("reply_to", f"expected some of {sorted(REPLY_TARGETS)}, got {list(reply_to)}")
    d = Discovery(dict(r.get(fields_key, dict, required=True)), reply_to, _behaviour(r, UDP_BEHAVIOURS))
    r.done()
    return d


def _mdns(r: _Reader) -> Mdns:
    try:
        m = Mdns(parse_hostname(r.get("hostname", str, required=True)),
                 parse_services(r.get("service", list, [])), _behaviour(r, UDP_BEHAVIOURS))
    except ValueError as exc:
        if isinstance(exc, PersonaError):
            raise
        raise PersonaError(f"{r.source}: mdns.{exc}") from None
    r.done()
    return m


def _truth(r: _Reader) -> Truth:
    t = Truth(vendor=r.get("vendor", str, None), brand=r.get("brand", str, None),
              model=r.get("model", str, None), flagged=r.get("flagged", bool, required=True),
              device_type=r.get("device_type", str, None), firmware=r.get("firmware", str, None),
              serial=r.get("serial", str, None))
    r.done()
    return t


def load(path: Path) -> Persona:
    """Load and validate one persona file; raises PersonaError naming file and key."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise PersonaError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PersonaError(f"{path}: not valid TOML: {exc}") from None
    r = _Reader(data, path)
    pid = r.get("id", str, required=True)
    if not _ID_RE.match(pid):
        raise r.fail("id", f"{pid!r}: use 1-40 of a-z, 0-9 and '-'")
    truth_r, net_r = r.sub("truth"), r.sub("net")
    if truth_r is None:
        raise r.fail("truth", "missing (required)")
    if net_r is None:
        raise r.fail("net", "missing (required)")
    segment, ip, mac, oui, ipv6 = net_section(net_r)

    http = tuple(_http(h) for h in r.subs("http"))
    http_ports = [h.port for h in http]
    rtsp_r, onvif_r, sadp_r, dhip_r, ssdp_r, mdns_r, snmp_r, chatter_r = (
        r.sub(k) for k in ("rtsp", "onvif", "sadp", "dhip", "ssdp", "mdns", "snmp", "chatter"))
    persona = Persona(
        id=pid, description=r.get("description", str, ""), source=path, truth=_truth(truth_r),
        segment=segment, ip=ip, mac=mac, oui=oui, http=http, ipv6=ipv6,
        rtsp=_rtsp(rtsp_r) if rtsp_r else None,
        tcp=tuple(_tcp(t) for t in r.subs("tcp")),
        onvif=_onvif(onvif_r, http_ports) if onvif_r else None,
        sadp=_discovery(sadp_r, "fields") if sadp_r else None,
        dhip=_discovery(dhip_r, "device_info") if dhip_r else None,
        ssdp=_discovery(ssdp_r, "headers") if ssdp_r else None,
        mdns=_mdns(mdns_r) if mdns_r else None,
        snmp=snmp_section(snmp_r, _behaviour(snmp_r, UDP_BEHAVIOURS | SNMP_EXTRA_BEHAVIOURS)) if snmp_r else None,
    )
    if chatter_r:
        sections = {k: getattr(persona, k) for k in ("sadp", "dhip", "onvif", "ssdp", "mdns", "snmp")}
        chatter = chatter_section(chatter_r, _behaviour(chatter_r, UDP_BEHAVIOURS), sections)
        persona = dataclasses.replace(persona, chatter=chatter)
    r.done()
    ports = persona.tcp_ports
    if len(ports) != len(set(ports)):
        raise PersonaError(f"{path}: two services on one TCP port: {ports}")
    return persona


def load_many(paths: list[Path]) -> list[Persona]:
    """Load files and check ids, addresses and MACs are unique across them."""
    personas = [load(p) for p in paths]
    seen: dict[str, Path] = {}
    for p in personas:
        for key in (p.id, p.ip, p.mac, p.ipv6 if p.ipv6 != net6.EUI64 else None):
            if key is None:
                continue
            if key in seen:
                raise PersonaError(f"{p.source}: {key} is also used by {seen[key]}")
            seen[key] = p.source
    return personas


def shipped_paths(ipv6: bool = False) -> list[Path]:
    """The shipped persona files; the IPv6 ones (personas/ipv6/) only when asked, so the
    IPv4 lab stays exactly as it was."""
    return sorted(SHIPPED_DIR.glob("*.toml")) + (sorted((SHIPPED_DIR / "ipv6").glob("*.toml")) if ipv6 else [])

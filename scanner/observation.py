"""Observations: the one record every probe emits and every later stage reads.

The format is public and versioned (DESIGN.md §2, docs/observations.md): one JSON object
per line, ``{"v": 1, "ip", "mac", "source", "port", "status", "data"}``. Keeping it a plain
JSON-able record lets `camaudit match` re-identify stored or imported observations without
re-scanning, and lets other tools (nmap import, a future SNMP probe) feed the same matcher.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

import orjson

FORMAT_VERSION = 1
MAX_LINE_BYTES = 1 << 20  # a line longer than 1 MiB is not an observation we wrote


class ProbeStatus(StrEnum):
    """One vocabulary for how every probe ended (after zgrab2's status codes).

    A non-ok observation is still evidence: "port 8000 open but the banner timed out" is
    recorded so that the inventory shows *why* a device stayed unidentified.
    """

    OK = "ok"
    REFUSED = "refused"              # TCP RST / ICMP unreachable on connect
    TIMEOUT = "timeout"              # no (complete) answer within the probe's budget
    PROTOCOL_ERROR = "protocol-error"  # answered, but not in the protocol we spoke
    TOO_LARGE = "too-large"          # answer exceeded the probe's size cap (truncated)
    RESET = "reset"                  # connection reset after it was established
    TLS_ERROR = "tls-error"          # TLS handshake failed
    UNREACHABLE = "unreachable"      # no route / host down
    ERROR = "error"                  # anything else; `error` says what


_STATUS_OF = {status.value: status for status in ProbeStatus}  # a dict lookup, not an Enum call per line


@dataclass(slots=True)
class Observation:
    """One probe answer about one device.

    `ip` or `mac` identifies the device (grouped by MAC when known, else IP). `data` holds
    the source-specific fields listed in docs/observations.md; `error` says what failed when
    `status` is not ok.
    """

    source: str
    ip: str | None = None
    mac: str | None = None
    port: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    status: ProbeStatus = ProbeStatus.OK
    error: str | None = None

    def __post_init__(self) -> None:
        if not self.ip and not self.mac:
            raise ValueError("an observation needs an ip or a mac")
        if self.mac:
            self.mac = normalize_mac(self.mac)

    @property
    def device_key(self) -> str:
        """The grouping key of DESIGN.md §2: MAC when known, else IP."""
        return self.mac or self.ip  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": FORMAT_VERSION, "ip": self.ip, "mac": self.mac,
                               "source": self.source, "port": self.port,
                               "status": str(self.status), "data": self.data}
        if self.error:
            out["error"] = self.error
        return out

    def to_json(self) -> str:
        return dumps_json(self.to_dict())

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Observation:
        """Build from a decoded line; raises ValueError with the reason on bad input."""
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        v = obj.get("v", FORMAT_VERSION)
        if v != FORMAT_VERSION:
            raise ValueError(f"unsupported observation format version {v!r} (this camaudit reads {FORMAT_VERSION})")
        source = obj.get("source")
        if not isinstance(source, str) or not source:
            raise ValueError("missing 'source'")
        data = obj.get("data") or {}
        if not isinstance(data, dict):
            raise ValueError("'data' must be an object")
        port = obj.get("port")
        if port is not None and (not isinstance(port, int) or not 0 <= port <= 65535):
            raise ValueError(f"bad port {port!r}")
        raw_status = obj.get("status", "ok")
        status = _STATUS_OF.get(raw_status) if isinstance(raw_status, str) else None
        if status is None:
            raise ValueError(f"unknown status {raw_status!r}")
        ip, mac = obj.get("ip"), obj.get("mac")
        if ip is not None and not isinstance(ip, str):
            raise ValueError("'ip' must be a string")
        if mac is not None and not isinstance(mac, str):
            raise ValueError("'mac' must be a string")
        return cls(source=source, ip=ip, mac=mac, port=port, data=data, status=status,
                   error=obj.get("error"))


_CANONICAL_MAC = re.compile(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}")


def normalize_mac(mac: str) -> str:
    """Lower-case, colon-separated; accepts `-`, `.`, `:` or bare hex (SADP sends `aa-bb-…`)."""
    lower = mac.lower()
    if _CANONICAL_MAC.fullmatch(lower):
        return lower  # the usual form, checked in one regex call: a third of `camaudit match`'s parsing cost otherwise
    hexdigits = "".join(c for c in mac.lower() if c in "0123456789abcdef")
    if len(hexdigits) != 12:
        raise ValueError(f"not a MAC address: {mac!r}")
    return ":".join(hexdigits[i:i + 2] for i in range(0, 12, 2))


@dataclass(slots=True)
class ReadError:
    """A line of an observation file that could not be used, and why."""

    line: int
    reason: str


def read_jsonl(stream: IO[str], errors: list[ReadError] | None = None) -> Iterator[Observation]:
    """Yield observations from JSON Lines; bad lines are skipped and reported in `errors`.

    Input may come from another tool or a hand-edited file, so one bad line must not lose
    the rest; the caller decides whether errors are fatal.
    """
    for lineno, line in enumerate(stream, 1):
        if len(line) > MAX_LINE_BYTES:
            _note(errors, lineno, f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        line = line.strip()
        if not line:
            continue
        try:
            yield Observation.from_dict(loads_json(line))
        except (ValueError, TypeError) as exc:
            _note(errors, lineno, str(exc))


def loads_json(text: str) -> Any:
    """Decode one JSON document: orjson (half the stdlib decoder's cost per line of
    `camaudit match`), and the stdlib decoder for what orjson refuses but Python's `json`
    has always read (NaN, Infinity, lone surrogate escapes), so both accept the same lines
    and a bad line keeps the stdlib's error message. orjson reads an integer beyond 64 bits
    as a float; no field of the format holds one."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps_json(obj: Any) -> str:
    """Compact JSON, non-ASCII kept as is: orjson (several times faster than `json.dumps`
    on identifications with their evidence), and the stdlib encoder for what orjson refuses
    (lone surrogates, integers beyond 64 bits, non-string keys) so every record still writes."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(observations: Iterable[Observation], stream: IO[str]) -> int:
    """Write observations one per line; returns how many were written."""
    n = 0
    for obs in observations:
        stream.write(obs.to_json())
        stream.write("\n")
        n += 1
    return n


def _note(errors: list[ReadError] | None, line: int, reason: str) -> None:
    if errors is not None:
        errors.append(ReadError(line, reason))

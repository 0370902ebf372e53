"""Observations: the one record every probe emits and every later stage reads.

The format is public and versioned (docs/observations.md): one JSON object
per line, ``{"v": 1, "ip", "mac", "source", "port", "status", "data"}`` (optionally ``at``,
when the answer came, and ``tool``, what wrote the line). Keeping it a plain
JSON-able record lets `camaudit match` re-identify stored or imported observations without
re-scanning, and lets other tools (nmap import, a future SNMP probe) feed the same matcher.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import IO, Any

import orjson

FORMAT_VERSION = 1
MAX_LINE_BYTES = 1 << 20  # a line longer than 1 MiB is not an observation we wrote
MAX_SKIP_BYTES = 1 << 30  # an overlong line is skipped up to this far; past it the input is abandoned
MAX_JSON_DEPTH = 64       # the format nests a few levels; deeper is not an observation
MAX_AT_CHARS = 40         # an ISO 8601 time with microseconds and offset is 32
REPLACEMENT = "\ufffd"
_INVALID_TEXT = re.compile("[\x00\ud800-\udfff]")


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
    at: str | None = None  # ISO 8601 UTC time the answer came, when the maker knew it
    text_checked: InitVar[bool] = False
    text_replaced: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self, text_checked: bool) -> None:
        if not self.ip and not self.mac:
            raise ValueError("an observation needs an ip or a mac")
        if self.mac:
            self.mac = normalize_mac(self.mac)
        if not text_checked:
            # Probes put network text here: a lone surrogate or NUL a device sent would make
            # every later writer (SQLite, PostgreSQL, UTF-8 output) fail, so it is replaced
            # once, here, and flagged so the scan can name the device.
            self.data, replaced = valid_text(self.data)
            if self.error is not None:
                self.error, error_replaced = valid_text(self.error)
                replaced = replaced or error_replaced
            self.text_replaced = replaced

    @property
    def device_key(self) -> str:
        """The grouping key (docs/observations.md): MAC when known, else IP."""
        return self.mac or self.ip  # type: ignore[return-value]

    def text_warning(self) -> str:
        """The scan warning for an observation whose network text had to be replaced."""
        device = " ".join(filter(None, (self.ip, self.mac and f"({self.mac})")))
        return (f"{device} sent text that is not valid UTF-8 (a lone surrogate or NUL) in its "
                f"{self.source} answer; it is kept with U+FFFD in its place")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": FORMAT_VERSION, "ip": self.ip, "mac": self.mac,
                               "source": self.source, "port": self.port,
                               "status": str(self.status), "data": self.data}
        if self.error:
            out["error"] = self.error
        if self.at:
            out["at"] = self.at
        return out

    def to_json(self) -> str:
        return dumps_json(self.to_dict())

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Observation:
        """Build from a line decoded by `loads_json` (its strings are valid text already) or a
        stored record; raises ValueError with the reason on bad input."""
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        v = obj.get("v", FORMAT_VERSION)
        if v != FORMAT_VERSION:
            raise UnsupportedVersion(v)
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
        error = obj.get("error")
        if error is not None and not isinstance(error, str):
            raise ValueError("'error' must be a string")
        at = obj.get("at")
        if at is not None:
            at = observed_at(at)
        # loads_json already made every string valid text: no second walk on match's hot path
        return cls(source=source, ip=ip, mac=mac, port=port, data=data, status=status,
                   error=error, at=at, text_checked=True)


class UnsupportedVersion(ValueError):
    """A line of an observation format version this camaudit does not read."""

    def __init__(self, version: Any) -> None:
        self.version = version
        super().__init__(f"unsupported observation format version {version!r} "
                         f"(this camaudit reads {FORMAT_VERSION})")


def observed_at(value: Any) -> str:
    """An observation's `at` as stored: ISO 8601 in UTC (a time without offset is taken as
    UTC); ValueError for anything else."""
    if not isinstance(value, str) or len(value) > MAX_AT_CHARS:
        raise ValueError("'at' must be an ISO 8601 time")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc).isoformat()
    except (ValueError, OverflowError):  # OverflowError: an offset that leaves year 1..9999
        raise ValueError(f"'at' is not an ISO 8601 time: {value!r}") from None


def utc_now() -> str:
    """The `at` of an answer arriving now."""
    return datetime.now(timezone.utc).isoformat()


def valid_text(value: Any) -> tuple[Any, bool]:
    """`value` with every string (dict keys too, nested lists/dicts) made valid UTF-8 text.

    Lone surrogates (JSON `\\ud800` escapes decode to them) and NULs (PostgreSQL text cannot
    hold one) become U+FFFD. Returns the value and whether anything was replaced; an
    unchanged value is returned as is. The common all-valid case is settled by one orjson
    encode (C speed; it refuses lone surrogates and writes NUL as an escape) instead of a
    Python walk.
    """
    try:
        if b"\\u0000" not in orjson.dumps(value):
            return value, False
    except TypeError:  # a lone surrogate, or what orjson does not encode: walk to find out
        pass
    return _valid_text_walk(value)


def _valid_text_walk(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        if _INVALID_TEXT.search(value) is None:
            return value, False
        return _INVALID_TEXT.sub(REPLACEMENT, value), True
    if isinstance(value, dict):
        replaced = False
        out: dict[Any, Any] = {}
        for key, item in value.items():
            new_key, key_replaced = _valid_text_walk(key)
            new_item, item_replaced = _valid_text_walk(item)
            out[new_key] = new_item
            replaced = replaced or key_replaced or item_replaced
        return (out, True) if replaced else (value, False)
    if isinstance(value, (list, tuple)):
        items = [_valid_text_walk(item) for item in value]
        if any(r for _, r in items):
            return type(value)(v for v, _ in items), True
        return value, False
    return value, False


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
    """A line of an observation file that could not be used, and why (`version`: the line's
    format version when that is the reason)."""

    line: int
    reason: str
    version: Any = None


def read_jsonl(stream: IO[str], errors: list[ReadError] | None = None) -> Iterator[Observation]:
    """Yield observations from JSON Lines; bad lines are skipped and reported in `errors`.

    Input may come from another tool or a hand-edited file, so one bad line must not lose
    the rest; the caller decides whether errors are fatal.
    """
    lineno = 0
    while line := stream.readline(MAX_LINE_BYTES + 1):  # bounded: a huge line is never held whole
        lineno += 1
        if len(line) > MAX_LINE_BYTES:
            if not _skip_line(stream, line):
                _note(errors, lineno, f"no line end within {MAX_SKIP_BYTES >> 30} GiB: the rest of the "
                      "input was not read (is it JSON Lines?)")
                return
            _note(errors, lineno, f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        line = line.strip()
        if not line:
            continue
        try:
            yield Observation.from_dict(loads_json(line))
        except UnsupportedVersion as exc:
            _note(errors, lineno, str(exc), exc.version)
        except (ValueError, TypeError) as exc:
            _note(errors, lineno, str(exc))


def _skip_line(stream: IO[str], start: str) -> bool:
    """Read on to the end of an overlong line that began with `start`, in bounded pieces;
    False when no line end came within MAX_SKIP_BYTES (an endless stream such as /dev/zero
    must not keep the reader busy for ever)."""
    piece, skipped = start, len(start)
    while piece and not piece.endswith("\n"):
        if skipped > MAX_SKIP_BYTES:
            return False
        piece = stream.readline(MAX_LINE_BYTES)
        skipped += len(piece)
    return True


def loads_json(text: str | bytes) -> Any:
    """Decode one JSON document into valid text: orjson (half the stdlib decoder's cost per
    line of `camaudit match`), and the stdlib decoder for what orjson refuses but Python's
    `json` has always read (NaN, Infinity, lone surrogate escapes), so both accept the same
    lines and a bad line keeps the stdlib's error message. NaN and ±Infinity (not JSON) are
    read as null, which is how they are written back, so a line reads the same after a
    round trip. Strings that are not valid text
    (lone surrogates, NUL escapes) are replaced by `valid_text`, and JSON nested deeper than
    `MAX_JSON_DEPTH` is a ValueError, not a RecursionError. orjson reads an integer beyond
    64 bits as a float; no field of the format holds one."""
    if not isinstance(text, str):  # a driver's JSON column hands over bytes (psycopg's jsonb)
        text = bytes(text).decode("utf-8", "replace")
    try:
        value = orjson.loads(text)
        if "\\u0000" not in text:
            return value  # orjson refuses lone surrogates and a raw NUL cannot be in JSON text
    except orjson.JSONDecodeError:
        value = _UNDECODED
    if _nesting(text) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if value is _UNDECODED:
        value = json.loads(text, parse_constant=_non_finite)
    return valid_text(value)[0]


def _non_finite(_constant: str) -> None:
    return None


_UNDECODED = object()


def _nesting(text: str) -> int:
    """An upper bound of the JSON nesting depth of `text` (brackets inside strings count
    too, which only errs towards refusing), computed without recursion."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


_BRACKETS = re.compile(r"[\[\]{}]")


def dumps_json(obj: Any) -> str:
    """Compact JSON, non-ASCII kept as is: orjson (several times faster than `json.dumps`
    on identifications with their evidence), and the stdlib encoder for what orjson refuses
    (lone surrogates, integers beyond 64 bits, non-string keys) so every record still writes."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(observations: Iterable[Observation], stream: IO[str], tool: str | None = None) -> int:
    """Write observations one per line, each naming `tool` when given (what made the file,
    for `camaudit ingest`'s provenance); returns how many were written."""
    n = 0
    for obs in observations:
        stream.write(obs.to_json() if tool is None else dumps_json({**obs.to_dict(), "tool": tool}))
        stream.write("\n")
        n += 1
    return n


def _note(errors: list[ReadError] | None, line: int, reason: str, version: Any = None) -> None:
    if errors is not None:
        errors.append(ReadError(line, reason, version))

"""Parse and schema-check one vendor fingerprint file; every error names file and line.

The format is described in docs/fingerprints.md. A user's file is untrusted input: a wrong
key, type or pattern becomes a FingerprintError naming `file:line` and the entry, never a
traceback.
"""

from __future__ import annotations

import re
import tomllib
from typing import TYPE_CHECKING, Any

from camaudit.fingerprints.errors import FingerprintError
from camaudit.fingerprints.fingerprint import Example, Fingerprint
from camaudit.tiers import TIERS, default_tier

if TYPE_CHECKING:
    from camaudit.fingerprints.vocabulary import Vocabulary

SOURCES = frozenset({"arp", "http", "https", "tls", "rtsp", "onvif", "sadp", "dhip", "banner",
                     "nmap", "snmp", "upnp", "mdns", "ssh", "telnet", "dhcp", "lldp", "cdp"})
CAPTURE_NAMES = frozenset({"model", "firmware", "serial", "brand", "device_type"})
MATCH_KINDS = frozenset({"regex", "exact", "prefix"})
_KEYS = {"id", "field", "match", "pattern", "icase", "when", "weight", "group", "generic",
         "vendor", "brand", "device_type", "captures", "description", "reference", "examples",
         "known_brand", "counter_examples", "tier"}
_FILE_KEYS = {"vendor", "description", "fingerprint"}



def parse_fingerprint_file(text: str, file: str, vocabulary: Vocabulary) -> list[Fingerprint]:
    """Parse and schema-check one vendor file; FingerprintError names the file and line."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FingerprintError(file, None, f"not valid TOML: {exc}") from None
    unknown = set(raw) - _FILE_KEYS
    if unknown:
        raise FingerprintError(file, 1, f"unknown top-level keys {sorted(unknown)}")
    file_vendor = raw.get("vendor")
    if file_vendor is not None and (not isinstance(file_vendor, str) or file_vendor not in vocabulary.vendors):
        raise FingerprintError(file, 1, f"vendor {file_vendor!r} is not in fingerprints/vocabulary.toml")
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "[[fingerprint]]"]
    entries = raw.get("fingerprint", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FingerprintError(file, 1, "fingerprints are [[fingerprint]] tables")
    parsed = []
    for i, e in enumerate(entries):
        line = lines[i] if i < len(lines) else None
        try:
            parsed.append(_parse_entry(e, file, line, file_vendor, vocabulary))
        except FingerprintError:
            raise
        except (TypeError, AttributeError, ValueError) as exc:
            # a key of the wrong TOML type (`examples = 0`, `when = 5`, `vendor = [..]`): a user's
            # file must get file:line and the entry, not a traceback (found by tests/fuzz)
            raise FingerprintError(file, line, f"fingerprint {e.get('id')!r}: a value has the wrong type ({exc})") from None
    return parsed


def _parse_entry(e: dict[str, Any], file: str, line: int | None, file_vendor: str | None,
                 vocab: Vocabulary) -> Fingerprint:
    fid = e.get("id")

    def fail(msg: str) -> FingerprintError:
        return FingerprintError(file, line, f"fingerprint {fid!r}: {msg}")

    if not isinstance(fid, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", fid):
        raise fail("needs an id of lower-case letters, digits, '.', '_', '-'")
    unknown = set(e) - _KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    source, path = _split_field(e.get("field"), fail)
    kind = e.get("match", "regex")
    if kind not in MATCH_KINDS:
        raise fail(f"match must be one of {sorted(MATCH_KINDS)}, not {kind!r}")
    pattern = e.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise fail("needs a non-empty pattern")
    captures = tuple(e.get("captures", ()))
    if set(captures) - CAPTURE_NAMES:
        raise fail(f"captures must be among {sorted(CAPTURE_NAMES)}")
    if kind == "regex":
        try:
            groups = set(re.compile(pattern).groupindex)
        except re.error as exc:
            raise fail(f"pattern does not compile: {exc}") from None
        if groups != set(captures):
            raise fail(f"named groups {sorted(groups)} differ from declared captures {sorted(captures)}")
    elif captures:
        raise fail(f"{kind} patterns capture nothing; use a regex to capture {list(captures)}")
    weight = e.get("weight")
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < weight <= 1:
        raise fail("weight must be a number in (0, 1]")
    tier = e.get("tier", default_tier(float(weight), bool(e.get("generic", False))))
    if tier not in TIERS:
        raise fail(f"tier must be one of {', '.join(TIERS)}, not {tier!r}")
    vendor = e.get("vendor", file_vendor) or None
    if vendor is not None and vendor not in vocab.vendors:
        raise fail(f"vendor {vendor!r} is not in fingerprints/vocabulary.toml")
    brand = e.get("brand")
    if brand is not None and brand not in vocab.brands:
        raise fail(f"brand {brand!r} is not in fingerprints/vocabulary.toml")
    if not (vendor or brand or captures or e.get("device_type")):
        raise fail("names no vendor, brand or device type and captures nothing: it would say nothing")
    when = []
    for key, allowed in (e.get("when") or {}).items():
        wsource, wpath = _split_field(key if "." in key and key.split(".")[0] in SOURCES
                                      else f"{source}.{key}", fail)
        if wsource != source:
            raise fail(f"when-condition {key!r} must read the same observation ({source})")
        values = allowed if isinstance(allowed, list) else [allowed]
        when.append((wpath, frozenset(str(v) for v in values)))
    examples = []
    for ex in e.get("examples", ()):
        if not isinstance(ex, dict) or not isinstance(ex.get("value"), str):
            raise fail("every example needs a string 'value'")
        expect = {k: str(v) for k, v in ex.items() if k != "value"}
        if set(expect) - set(captures) - {"vendor"}:
            raise fail(f"example {ex['value']!r} expects {sorted(set(expect) - set(captures) - {'vendor'})}, "
                       "which the fingerprint does not capture")
        examples.append(Example(ex["value"], expect))
    if not examples:
        raise fail("needs at least one example (examples = [{ value = \"…\" }])")
    counters = []
    for counter in e.get("counter_examples", ()):
        value = counter.get("value") if isinstance(counter, dict) else counter
        if not isinstance(value, str):
            raise fail(f"counter-example {counter!r} is not a string or {{ value = \"…\" }}")
        counters.append(value)
    return Fingerprint(
        id=fid, source=source, path=path, match=kind, pattern=pattern, weight=float(weight),
        group=str(e.get("group", fid)), generic=bool(e.get("generic", False)), vendor=vendor,
        brand=brand, device_type=e.get("device_type"), captures=captures, when=tuple(when),
        icase=bool(e.get("icase", False)), known_brand=bool(e.get("known_brand", False)), description=str(e.get("description", "")),
        reference=str(e.get("reference", "")), examples=tuple(examples), file=file, line=line or 0,
        field=".".join((source, *path)), counter_examples=tuple(counters), tier=tier)


def _split_field(value: Any, fail: Any) -> tuple[str, tuple[str, ...]]:
    if not isinstance(value, str) or "." not in value:
        raise fail(f"field must be '<source>.<path>', got {value!r}")
    source, *path = value.split(".")
    if source not in SOURCES:
        raise fail(f"unknown source {source!r} (one of {sorted(SOURCES)})")
    if not all(path):
        raise fail(f"empty path element in field {value!r}")
    return source, tuple(path)


"""Load, validate and apply the fingerprint data in `fingerprints/` (the Rapid7 Recog model).

Fingerprints are data: `fingerprints/vendors/*.toml`, one file per vendor, each entry with
the observation field it reads, a pattern, a weight, what it captures and examples that
`verify()` checks. Adding a signal never needs code; docs/fingerprints.md shows how.

Field paths are `<source>.<dotted path into data>`: dict keys match case-insensitively
(HTTP header names), list values match if any element does, ONVIF scopes are percent-decoded,
U+00A0 becomes a space. Fingerprints on `http.*` also read `https` observations (same data).
Every fingerprint whose pattern matches yields a `Hit`; scanner.identify combines them.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fingerprints import DATA
from scanner.observation import Observation
from scanner.oui import OuiTable, load_layers, normalize_org

SOURCES = frozenset({"arp", "http", "https", "tls", "rtsp", "onvif", "sadp", "dhip", "banner",
                     "nmap", "snmp"})
CAPTURE_NAMES = frozenset({"model", "firmware", "serial", "brand", "device_type"})
MATCH_KINDS = frozenset({"regex", "exact", "prefix"})
MAX_VALUE_CHARS = 64 * 1024   # longer values are cut before matching: bounded regex time
MAX_CAPTURE_CHARS = 128
MEMO_CHARS = 32 << 20         # memoised values (chars) before the match cache starts over
MAX_PLANS = 1024              # key tuples remembered per trie node (see _Node.plan)
_KEYS = {"id", "field", "match", "pattern", "icase", "when", "weight", "group", "generic",
         "vendor", "brand", "device_type", "captures", "description", "reference", "examples",
         "known_brand"}
_FILE_KEYS = {"vendor", "description", "fingerprint"}
_GROUP_NAME = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")


class FingerprintError(ValueError):
    """A fingerprint file is wrong; the message names file, line and entry."""

    def __init__(self, file: str, line: int | None, message: str):
        self.file, self.line = file, line
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")


# ---------------------------------------------------------------- vocabulary

@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The one list of vendor (lineage) and brand names, their aliases and IEEE organisations."""

    vendors: frozenset[str]
    lineage_of: dict[str, str | None]          # brand → vendor it implies (vendors map to themselves)
    alias_to_brand: dict[str, str]             # casefolded alias → brand
    org_to_brand: dict[str, str]               # normalize_org(org) → brand
    flagged_orgs: tuple[str, ...]              # organisations copied into oui/flagged.csv
    legal_names: dict[str, str]

    @property
    def brands(self) -> frozenset[str]:
        return frozenset(self.lineage_of)

    def canonical_brand(self, text: str) -> str:
        """A self-reported manufacturer, mapped to the vocabulary when it is a known alias;
        otherwise the (cleaned) text itself, so an unknown maker is named, not guessed."""
        clean = " ".join(text.replace("\u00a0", " ").split())[:MAX_CAPTURE_CHARS]
        return self.alias_to_brand.get(clean.casefold(), clean)

    def lineage(self, brand: str | None) -> str | None:
        return self.lineage_of.get(brand) if brand else None

    def brand_of_org(self, organization: str) -> str | None:
        return self.org_to_brand.get(normalize_org(organization))


def load_vocabulary(text: str | None = None, file: str = "fingerprints/vocabulary.toml") -> Vocabulary:
    raw = tomllib.loads(text if text is not None else DATA.joinpath("vocabulary.toml").read_text("utf-8"))
    lineage: dict[str, str | None] = {}
    aliases: dict[str, str] = {}
    orgs: dict[str, str] = {}
    flagged: list[str] = []
    legal: dict[str, str] = {}
    vendors = frozenset(raw.get("vendors", {}))
    for kind in ("vendors", "brands"):
        for name, entry in raw.get(kind, {}).items():
            if name in lineage:
                raise FingerprintError(file, None, f"{name!r} defined twice")
            parent = name if kind == "vendors" else entry.get("lineage")
            if parent is not None and parent not in vendors:
                raise FingerprintError(file, None, f"brand {name!r}: lineage {parent!r} is not a vendor")
            lineage[name] = parent
            legal[name] = entry.get("legal_name", name)
            for alias in [name, *entry.get("aliases", [])]:
                other = aliases.setdefault(alias.casefold(), name)
                if other != name:
                    raise FingerprintError(file, None, f"alias {alias!r} names both {other!r} and {name!r}")
            for org in entry.get("organizations", []):
                orgs[normalize_org(org)] = name
                if entry.get("flagged_oui"):
                    flagged.append(org)
    return Vocabulary(vendors, lineage, aliases, orgs, tuple(flagged), legal)


# ---------------------------------------------------------------- fingerprints

@dataclass(frozen=True, slots=True)
class Example:
    value: str
    expect: dict[str, str]   # captures expected (model, firmware, …; brand canonical), optionally vendor


@dataclass(slots=True, eq=False)
class Fingerprint:
    id: str
    source: str
    path: tuple[str, ...]
    match: str
    pattern: str
    weight: float
    group: str
    generic: bool
    vendor: str | None
    brand: str | None
    device_type: str | None
    captures: tuple[str, ...]
    when: tuple[tuple[tuple[str, ...], frozenset[str]], ...]
    icase: bool
    known_brand: bool     # a captured brand counts only when the vocabulary knows it
    description: str
    reference: str
    examples: tuple[Example, ...]
    file: str
    line: int
    field: str = ""      # "<source>.<path>", as written in the file
    _regex: re.Pattern[str] | None = None
    _needle: str = ""

    def compile(self) -> None:
        if self.match == "regex":
            self._regex = re.compile(self.pattern)
        else:
            self._needle = self.pattern.casefold() if self.icase else self.pattern

    def test(self, value: str) -> dict[str, str] | None:
        """Captures when `value` matches (empty dict for a plain match), else None."""
        if self._regex is not None:
            m = self._regex.search(value)
            if m is None:
                return None
            return {k: v.strip()[:MAX_CAPTURE_CHARS] for k, v in m.groupdict().items()
                    if v and v.strip()}
        probe = value.casefold() if self.icase else value
        if self.match == "exact":
            return {} if probe == self._needle else None
        return {} if probe.startswith(self._needle) else None

    def applies_to(self, source: str) -> bool:
        return source == self.source or (self.source == "http" and source == "https")


@dataclass(frozen=True, slots=True)
class Hit:
    """One fingerprint that matched one value of one observation."""

    fingerprint: Fingerprint
    value: str
    captures: dict[str, str]
    vendor: str | None    # lineage this signal shows
    brand: str | None     # label this signal shows


@dataclass(slots=True)
class FingerprintSet:
    """All fingerprints, indexed by source, plus the vocabulary and the OUI table."""

    fingerprints: list[Fingerprint]
    vocabulary: Vocabulary
    oui: OuiTable
    version: str = ""     # digest of the data it was built from (stored with scans, for rematch)
    _by_source: dict[str, _Node] = field(default_factory=dict)
    _memo: dict[tuple[_Node, str], tuple[tuple[Fingerprint, Hit], ...]] = field(default_factory=dict)
    _memo_chars: int = 0

    def __post_init__(self) -> None:
        for fp in self.fingerprints:
            fp.compile()
            for source in (fp.source, "https") if fp.source == "http" else (fp.source,):
                node = self._by_source.setdefault(source, _Node(()))
                for depth, key in enumerate(fp.path, 1):
                    child = node.children.get(key.lower())
                    if child is None:
                        child = node.children[key.lower()] = _Node(fp.path[:depth], rank=len(node.children))
                    node = child
                node.fps.append(fp)

    def get(self, fid: str) -> Fingerprint | None:
        return next((fp for fp in self.fingerprints if fp.id == fid), None)

    def match(self, obs: Observation) -> list[Hit]:
        """Every fingerprint hit for one observation (only fingerprints of its source run).

        Identical values recur across a fleet (same firmware, same banner), so the pattern
        results per (field, value) are memoised in a bounded cache; `when` conditions are
        checked per observation, since they read other fields.
        """
        root = self._by_source.get(obs.source)
        if root is None:
            return []
        found: list[tuple[_Node, list[Any]]] = []
        _collect([obs.data], root, found)
        hits: list[Hit] = []
        for node, raw in found:
            done: set[int] = set()
            for value in _strings(raw, node.decode):
                for fp, hit in self._matches(node, value):
                    if id(fp) in done or (fp.when and not _when_holds(obs.data, fp.when)):
                        continue
                    done.add(id(fp))
                    hits.append(hit)
        return hits

    def _matches(self, node: _Node, value: str) -> tuple[tuple[Fingerprint, Hit], ...]:
        key = (node, value)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        found = []
        for fp in node.fps:
            caps = fp.test(value)
            if caps is None:
                continue
            hit = self.hit(fp, value, caps)
            if fp.known_brand and hit.brand not in self.vocabulary.brands:
                continue
            found.append((fp, hit))
        result = tuple(found)
        self._memo_chars += len(value)
        if self._memo_chars > MEMO_CHARS:
            self._memo.clear()
            self._memo_chars = len(value)
        self._memo[key] = result
        return result

    def hit(self, fp: Fingerprint, value: str, caps: dict[str, str]) -> Hit:
        brand = caps.get("brand")
        brand = self.vocabulary.canonical_brand(brand) if brand else fp.brand
        vendor = fp.vendor or self.vocabulary.lineage(brand)
        return Hit(fp, value[:200], caps, vendor, brand)


_MISSING = object()


@dataclass(slots=True, eq=False)
class _Node:
    """A trie over field paths of one source: each observation's data is walked once.

    Hashed by identity: it keys the match memo."""

    path: tuple[str, ...]
    fps: list[Fingerprint] = field(default_factory=list)       # fingerprints reading this path
    children: dict[str, _Node] = field(default_factory=dict)   # lower-case key -> node
    rank: int = 0                                              # position among its parent's children
    decode: bool = field(init=False)                           # ONVIF scopes: percent-decoded
    _plans: dict[tuple[Any, ...], tuple[tuple[_Node, Any], ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.decode = bool(self.path) and self.path[-1] == "scopes"

    def plan(self, item: dict[Any, Any]) -> tuple[tuple[_Node, Any], ...]:
        """(child, key of `item` it reads) for every child that `item` has, in child order.

        A probe writes the same keys observation after observation, so the answer is kept
        per key tuple (bounded: device-chosen header names must not grow it without end);
        finding keys case-insensitively was half of matching an observation otherwise.
        """
        shape = tuple(item)
        plan = self._plans.get(shape)
        if plan is None:
            plan = tuple((child, actual) for key, child in self.children.items()
                         if (actual := _actual_key(item, key)) is not _MISSING)
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[shape] = plan
        return plan


def _actual_key(item: dict[Any, Any], key: str) -> Any:
    """The key of `item` that `key` names: `key` itself when present, else the last key
    equal to it case-insensitively (HTTP header names), else _MISSING."""
    if key in item:
        return key
    low = key.lower()
    found: Any = _MISSING
    for k in item:
        if isinstance(k, str) and k.lower() == low:
            found = k
    return found


def _step(items: list[Any], key: str) -> list[Any]:
    """The values under `key` of the dicts in `items` (see _actual_key); lists fan out."""
    out: list[Any] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        actual = _actual_key(item, key)
        if actual is _MISSING:
            continue
        value = item[actual]
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


def _collect(items: list[Any], node: _Node, out: list[tuple[_Node, list[Any]]]) -> None:
    """Append (node, values found at its path) for every node under `node` that `items`
    reach, depth first in child order (hits then come in fingerprint-file order, whatever
    the order of keys in the observation)."""
    gathered: dict[_Node, list[Any]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        for child, key in node.plan(item):
            value = item[key]
            bucket = gathered.get(child)
            if bucket is None:
                bucket = gathered[child] = []
            if isinstance(value, list):
                bucket.extend(value)
            else:
                bucket.append(value)
    ordered = sorted(gathered.items(), key=_by_rank) if len(items) > 1 else gathered.items()
    for child, values in ordered:
        if child.fps:
            out.append((child, values))
        if child.children:
            _collect(values, child, out)


def _by_rank(entry: tuple[_Node, list[Any]]) -> int:
    return entry[0].rank


def _strings(nodes: list[Any], decode: bool) -> list[str]:
    """Scalars as matchable text: capped, scopes percent-decoded, U+00A0 as a space."""
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str) or (isinstance(node, (int, float)) and not isinstance(node, bool)):
            text = node[:MAX_VALUE_CHARS] if isinstance(node, str) else str(node)
            if decode and "%" in text:
                text = unquote(text)
            out.append(text.replace("\u00a0", " ") if "\u00a0" in text else text)
    return out


def field_values(data: Any, path: tuple[str, ...]) -> list[str]:
    """The string values at `path` (case-insensitive keys, lists fan out), normalised."""
    nodes: list[Any] = [data]
    for key in path:
        nodes = _step(nodes, key)
        if not nodes:
            return []
    return _strings(nodes, path[-1] == "scopes")


def _when_holds(data: dict[str, Any], when: tuple[tuple[tuple[str, ...], frozenset[str]], ...]) -> bool:
    return all(any(v in allowed for v in field_values(data, path)) for path, allowed in when)


# ---------------------------------------------------------------- loading

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
    return Fingerprint(
        id=fid, source=source, path=path, match=kind, pattern=pattern, weight=float(weight),
        group=str(e.get("group", fid)), generic=bool(e.get("generic", False)), vendor=vendor,
        brand=brand, device_type=e.get("device_type"), captures=captures, when=tuple(when),
        icase=bool(e.get("icase", False)), known_brand=bool(e.get("known_brand", False)), description=str(e.get("description", "")),
        reference=str(e.get("reference", "")), examples=tuple(examples), file=file, line=line or 0,
        field=".".join((source, *path)))


def _split_field(value: Any, fail: Any) -> tuple[str, tuple[str, ...]]:
    if not isinstance(value, str) or "." not in value:
        raise fail(f"field must be '<source>.<path>', got {value!r}")
    source, *path = value.split(".")
    if source not in SOURCES:
        raise fail(f"unknown source {source!r} (one of {sorted(SOURCES)})")
    if not all(path):
        raise fail(f"empty path element in field {value!r}")
    return source, tuple(path)


def fingerprint_files() -> list[tuple[str, str]]:
    """(display name, text) of the shipped vendor files: vendor files by name, generic.toml
    (vendor-neutral captures such as the ONVIF manufacturer) last."""
    vendors_dir = DATA.joinpath("vendors")
    names = sorted((p.name for p in vendors_dir.iterdir() if p.name.endswith(".toml")),
                   key=lambda n: (n == "generic.toml", n))
    return [(f"fingerprints/vendors/{n}", vendors_dir.joinpath(n).read_text("utf-8")) for n in names]


def build_set(files: Iterable[tuple[str, str]], vocabulary: Vocabulary, oui: OuiTable) -> FingerprintSet:
    fps: list[Fingerprint] = []
    seen: dict[str, Fingerprint] = {}
    for name, text in files:
        for fp in parse_fingerprint_file(text, name, vocabulary):
            if fp.id in seen:
                raise FingerprintError(name, fp.line, f"fingerprint id {fp.id!r} already used at "
                                                      f"{seen[fp.id].file}:{seen[fp.id].line}")
            seen[fp.id] = fp
            fps.append(fp)
    return FingerprintSet(fps, vocabulary, oui)


@lru_cache(maxsize=4)
def load_fingerprints(user_dir: Path | None = None) -> FingerprintSet:
    """The shipped fingerprints, vocabulary and OUI table (plus the user's refreshed OUI
    data from `user_dir`, default the camaudit data dir). Cached: loading is I/O."""
    vocab_text = DATA.joinpath("vocabulary.toml").read_text("utf-8")
    files = fingerprint_files()
    fset = build_set(files, load_vocabulary(vocab_text), load_layers(user_dir))
    digest = hashlib.sha256(vocab_text.encode())
    for name, text in files:
        digest.update(name.encode() + b"\0" + text.encode())
    fset.version = digest.hexdigest()[:12]
    return fset


# ---------------------------------------------------------------- verification

def verify(fset: FingerprintSet) -> list[FingerprintError]:
    """Check every example: it matches its fingerprint with exactly the expected captures,
    and no earlier fingerprint on the same field and conditions matches it with a different
    vendor, brand or captures (that earlier entry would put a wrong answer next to the right
    one). Returns the problems; an empty list means the data is sound."""
    problems: list[FingerprintError] = []
    earlier: dict[tuple[Any, ...], list[Fingerprint]] = {}
    for fp in fset.fingerprints:
        key = (fp.source, fp.path, fp.when)
        for ex in fp.examples:
            value = ex.value.replace("\u00a0", " ")
            caps = fp.test(value)
            where = f"fingerprint {fp.id!r}: example {ex.value!r}"
            if caps is None:
                problems.append(FingerprintError(fp.file, fp.line, f"{where} does not match /{fp.pattern}/"))
                continue
            mine = fset.hit(fp, value, caps)
            if fp.known_brand and mine.brand not in fset.vocabulary.brands:
                problems.append(FingerprintError(fp.file, fp.line, f"{where} gives brand {mine.brand!r}, "
                                                 "which fingerprints/vocabulary.toml does not know (known_brand)"))
                continue
            got = {**caps, **({"brand": mine.brand} if "brand" in caps else {})}
            if "vendor" in ex.expect:
                got["vendor"] = mine.vendor or ""
            if got != ex.expect:
                problems.append(FingerprintError(fp.file, fp.line, f"{where} gives {got}, expected {ex.expect}"))
                continue
            for other in earlier.get(key, ()):
                theirs_caps = other.test(value)
                if theirs_caps is None:
                    continue
                theirs = fset.hit(other, value, theirs_caps)
                if (theirs.vendor, theirs.brand) != (mine.vendor, mine.brand) or any(
                        theirs_caps.get(k, v) != v for k, v in caps.items()):
                    problems.append(FingerprintError(
                        fp.file, fp.line, f"{where} is shadowed by earlier {other.id!r} "
                        f"({other.file}:{other.line}), which says vendor={theirs.vendor} "
                        f"brand={theirs.brand} captures={theirs_caps}"))
        earlier.setdefault(key, []).append(fp)
    return problems


def iter_fields(fset: FingerprintSet) -> Iterator[str]:
    """Distinct field paths in use (for docs and `fingerprints list`)."""
    seen: set[str] = set()
    for fp in fset.fingerprints:
        if fp.field not in seen:
            seen.add(fp.field)
            yield fp.field

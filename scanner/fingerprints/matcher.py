"""Apply fingerprints to observations: a trie over field paths per source, and the caches.

Field paths are `<source>.<dotted path into data>`: dict keys match case-insensitively
(HTTP header names), list values match if any element does, ONVIF scopes are percent-decoded,
U+00A0 becomes a space. Fingerprints on `http.*` also read `https` observations (same data).
Every fingerprint whose pattern matches yields a `Hit`; camaudit.identify combines them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from camaudit.fingerprints.fingerprint import Fingerprint, Hit
from camaudit.fingerprints.vocabulary import Vocabulary
from camaudit.observation import Observation
from camaudit.oui import OuiTable

MAX_VALUE_CHARS = 64 * 1024   # longer values are cut before matching: bounded regex time
MEMO_CHARS = 32 << 20         # memoised values (chars) before the match cache starts over
MAX_PLANS = 1024              # key tuples remembered per trie node (see _Node.plan)


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
    _conditions: dict[Fingerprint, tuple[_Condition, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for fp in self.fingerprints:
            fp.compile()
            for source in (fp.source, "https") if fp.source == "http" else (fp.source,):
                self._by_source.setdefault(source, _Node(())).insert(fp.path).fps.append(fp)
            if fp.when:
                self._conditions[fp] = tuple(_Condition.reading(path, allowed, fp) for path, allowed in fp.when)

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
                    if id(fp) in done or (fp.when and not self._when_holds(obs.data, fp)):
                        continue
                    done.add(id(fp))
                    hits.append(hit)
        return hits

    def _when_holds(self, data: dict[str, Any], fp: Fingerprint) -> bool:
        return all(condition.holds(data) for condition in self._conditions[fp])

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

    def insert(self, path: tuple[str, ...]) -> _Node:
        """The node `path` below this one reaches, created (after its siblings) where missing."""
        node = self
        for depth, key in enumerate(path, 1):
            child = node.children.get(key.lower())
            if child is None:
                child = node.children[key.lower()] = _Node(self.path + path[:depth], rank=len(node.children))
            node = child
        return node

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


@dataclass(frozen=True, slots=True)
class _Condition:
    """One `when` condition: the field it reads (a one-path trie, walked by the same `_collect`
    as the match itself, so both read a field alike) and the values that satisfy it."""

    root: _Node
    allowed: frozenset[str]

    @classmethod
    def reading(cls, path: tuple[str, ...], allowed: frozenset[str], fp: Fingerprint) -> _Condition:
        root = _Node(())
        root.insert(path).fps.append(fp)   # _collect reports the nodes that fingerprints read
        return cls(root, allowed)

    def holds(self, data: dict[str, Any]) -> bool:
        found: list[tuple[_Node, list[Any]]] = []
        _collect([data], self.root, found)
        return any(v in self.allowed for node, raw in found for v in _strings(raw, node.decode))

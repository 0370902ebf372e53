"""MAC address → registered organisation, offline, longest prefix first.

Three layers, all plain files read once:

1. the user's refreshed registry (`camaudit oui refresh FILE`, for air-gapped networks that
   carry their own IEEE download), in the camaudit data dir;
2. `fingerprints/oui/flagged.csv`: every block of the flagged vendors' organisations, shipped
   with camaudit so a stale or edited IEEE list can never lose one;
3. mac-vendor-lookup's bundled IEEE list, read from the file the package ships under
   `sys.prefix/cache/` — never `~/.cache` (a stale user cache must not change results) and
   never `update_vendors()` (no network).

A longer prefix (MA-S /36 over MA-M /28 over MA-L /24) always wins; on equal length the
earlier layer wins. Locally administered and multicast MACs have no organisation: a
randomized MAC must never be attributed to a vendor.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from camaudit.fingerprints.data import data_root

PREFIX_BITS = (36, 28, 24)          # MA-S, MA-M, MA-L: tried longest first
MAX_REGISTRY_BYTES = 64 << 20       # the full IEEE MA-L CSV is ~6 MiB
MAX_LINE_CHARS = 4096
FLAGGED_CSV = "oui/flagged.csv"
USER_REGISTRY = "oui/registry.csv"

# prefix length in hex digits → bits
_HEX_BITS = {6: 24, 7: 28, 9: 36}
_TXT_LINE = re.compile(r"^\s*([0-9A-Fa-f]{6})\s+\(base 16\)\s+(.+?)\s*$")
_VENDORS_TXT_LINE = re.compile(r"^([0-9A-Fa-f]{6}|[0-9A-Fa-f]{7}|[0-9A-Fa-f]{9}):(.+)$")


class OuiDataError(ValueError):
    """An OUI file the user supplied could not be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class OuiMatch:
    """The registry entry a MAC falls in."""

    prefix: str        # upper-case hex, 6, 7 or 9 digits
    bits: int          # 24, 28 or 36
    organization: str  # exactly as registered
    layer: str         # "user", "flagged" or "ieee"


# one registry layer: bits → {prefix as int → organisation}
Layer = dict[int, dict[int, str]]


def mac_to_int(mac: str) -> int:
    """48-bit integer of a MAC in any common notation; ValueError when it is not one."""
    hexdigits = "".join(c for c in mac if c not in ":-. ")
    if len(hexdigits) != 12:
        raise ValueError(f"not a MAC address: {mac!r}")
    return int(hexdigits, 16)


def is_locally_administered(mac: str) -> bool:
    """True for randomized/locally assigned MACs (U/L bit set): they name no vendor."""
    return bool((mac_to_int(mac) >> 40) & 0x02)


def is_multicast(mac: str) -> bool:
    return bool((mac_to_int(mac) >> 40) & 0x01)


class OuiTable:
    """Longest-prefix lookup over layers given in precedence order."""

    def __init__(self, layers: Iterable[tuple[str, Layer]]):
        self.layers = [(name, layer) for name, layer in layers]

    def lookup(self, mac: str) -> OuiMatch | None:
        """The registry entry of `mac`, or None (unknown, locally administered, multicast)."""
        try:
            value = mac_to_int(mac)
        except ValueError:
            return None
        if (value >> 40) & 0x03:
            return None
        for bits in PREFIX_BITS:
            key = value >> (48 - bits)
            for name, layer in self.layers:
                org = layer.get(bits, {}).get(key)
                if org is not None:
                    return OuiMatch(f"{key:0{bits // 4}X}", bits, org, name)
        return None

    def size(self) -> dict[str, int]:
        """Entries per layer, for `fingerprints verify`."""
        return {name: sum(len(t) for t in layer.values()) for name, layer in self.layers}


def empty_layer() -> Layer:
    return {bits: {} for bits in PREFIX_BITS}


def add_entry(layer: Layer, prefix_hex: str, organization: str) -> None:
    bits = _HEX_BITS.get(len(prefix_hex))
    if bits is None:
        raise ValueError(f"prefix {prefix_hex!r} is not 6, 7 or 9 hex digits")
    layer[bits][int(prefix_hex, 16)] = organization


def iter_entries(layer: Layer) -> Iterator[tuple[str, int, str]]:
    """(prefix hex, bits, organisation), sorted, for writing a layer back out."""
    for bits in sorted(layer):
        for key in sorted(layer[bits]):
            yield f"{key:0{bits // 4}X}", bits, layer[bits][key]


# ---------------------------------------------------------------- reading registry files

def parse_registry(text: str, origin: str) -> tuple[Layer, int]:
    """Parse an IEEE CSV (oui.csv, mam.csv, oui36.csv, iab.csv), an IEEE oui.txt or a
    mac-vendor-lookup `mac-vendors.txt`; returns the layer and the count of skipped lines.

    The format is recognised from the content, so the user need not say which file it is.
    Raises OuiDataError when nothing usable is found.
    """
    layer = empty_layer()
    skipped = 0
    head = text[:200].lstrip("\ufeff")
    if head.startswith("Registry,"):
        reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
        next(reader, None)
        for row in reader:
            if len(row) < 3 or row[0] not in ("MA-L", "MA-M", "MA-S", "IAB"):
                skipped += 1
                continue
            try:
                add_entry(layer, row[1].strip().upper(), _clean_org(row[2]))
            except ValueError:
                skipped += 1
    else:
        for line in text.splitlines():
            if not line.strip():
                continue
            if len(line) > MAX_LINE_CHARS:
                skipped += 1
                continue
            m = _VENDORS_TXT_LINE.match(line) or _TXT_LINE.match(line)
            if not m or not m.group(2).strip():
                skipped += 1
                continue
            add_entry(layer, m.group(1).upper(), _clean_org(m.group(2)))
    if not any(layer.values()):
        raise OuiDataError(
            f"{origin}: no OUI entries recognised; expected an IEEE CSV (oui.csv, mam.csv, "
            "oui36.csv), an IEEE oui.txt or a mac-vendors.txt (PREFIX:Organisation per line)")
    return layer, skipped


def _clean_org(org: str) -> str:
    return " ".join(org.split())[:200]


def read_registry_file(path: Path) -> tuple[Layer, int]:
    """Read a user-supplied registry file with a size cap; OuiDataError on any problem."""
    try:
        size = path.stat().st_size
        if size > MAX_REGISTRY_BYTES:
            raise OuiDataError(f"{path}: {size} bytes is larger than the {MAX_REGISTRY_BYTES} "
                               "byte cap for an OUI registry file")
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise OuiDataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return parse_registry(text, str(path))


def read_layer_csv(text: str) -> Layer:
    """Our own `prefix,bits,organization` CSV (flagged.csv, the user registry)."""
    layer = empty_layer()
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header != ["prefix", "bits", "organization"]:
        raise OuiDataError(f"unexpected OUI table header {header!r}")
    for row in reader:
        if row:
            add_entry(layer, row[0], row[2])
    return layer


def write_layer_csv(layer: Layer) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["prefix", "bits", "organization"])
    for prefix, bits, org in iter_entries(layer):
        writer.writerow([prefix, bits, org])
    return out.getvalue()


# ---------------------------------------------------------------- where the layers live

def data_dir() -> Path:
    """camaudit's per-user data dir; `CAMAUDIT_DATA_DIR` overrides (tests, system installs)."""
    env = os.environ.get("CAMAUDIT_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("camaudit"))


def bundled_ieee_path() -> Path | None:
    """mac-vendor-lookup's bundled list, looked up where the package installs it (never
    `~/.cache`, which the package itself would prefer). Found by its import spec, without
    importing it: the module pulls in aiohttp, 0.2 s of every scan's start."""
    spec = importlib.util.find_spec("mac_vendor_lookup")
    if spec is None or spec.origin is None:
        return None
    here = Path(spec.origin).resolve().parent
    for candidate in (Path(sys.prefix) / "cache" / "mac-vendors.txt",
                      here.parent.parent / "cache" / "mac-vendors.txt",
                      here.parent.parent.parent / "cache" / "mac-vendors.txt"):
        if candidate.is_file() and candidate.stat().st_size:
            return candidate
    return None


def load_layers(user_dir: Path | None = None) -> OuiTable:
    """Build the three-layer table from disk (callers cache it: see camaudit.fingerprints.loader)."""
    layers: list[tuple[str, Layer]] = []
    user_file = (user_dir if user_dir is not None else data_dir()) / USER_REGISTRY
    if user_file.is_file():
        layers.append(("user", read_layer_csv(user_file.read_text(encoding="utf-8"))))
    layers.append(("flagged", read_layer_csv(data_root().joinpath(FLAGGED_CSV).read_text(encoding="utf-8"))))
    ieee = bundled_ieee_path()
    if ieee is not None:
        layers.append(("ieee", parse_registry(ieee.read_text(encoding="utf-8", errors="replace"),
                                              str(ieee))[0]))
    return OuiTable(layers)


@dataclass(frozen=True, slots=True)
class RefreshResult:
    path: Path
    added: int
    total: int
    skipped: int


def refresh(source: Path, user_dir: Path | None = None) -> RefreshResult:
    """Merge a user-supplied registry file into the user layer (later imports override
    earlier ones prefix by prefix, so oui.csv then mam.csv then oui36.csv accumulate)."""
    new, skipped = read_registry_file(source)
    target = (user_dir if user_dir is not None else data_dir()) / USER_REGISTRY
    layer = read_layer_csv(target.read_text(encoding="utf-8")) if target.is_file() else empty_layer()
    before = sum(len(t) for t in layer.values())
    for bits, table in new.items():
        layer[bits].update(table)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(write_layer_csv(layer), encoding="utf-8")
    os.replace(tmp, target)
    total = sum(len(t) for t in layer.values())
    return RefreshResult(target, total - before, total, skipped)


def flagged_layer(registry: Layer, organizations: Iterable[str]) -> Layer:
    """The entries of `registry` whose organisation is exactly one of `organizations`
    (case and spacing aside) — how fingerprints/oui/flagged.csv is built."""
    wanted = {normalize_org(o) for o in organizations}
    out = empty_layer()
    for bits, table in registry.items():
        for key, org in table.items():
            if normalize_org(org) in wanted:
                out[bits][key] = org
    return out


def normalize_org(org: str) -> str:
    """Exact-name comparison key: case-folded, whitespace collapsed — nothing fuzzier."""
    return " ".join(org.split()).casefold()

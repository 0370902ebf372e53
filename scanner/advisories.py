"""The offline table of known exploited vulnerabilities of flagged vendors.

Two layers, read once per process by `load_advisories`:

1. `fingerprints/advisories/kev.toml`, shipped: CISA KEV entries with the affected products
   and firmware ranges their advisories state (schema in that file and docs/priority.md);
2. the user's refresh (`camaudit advisories load FILE`: CISA's
   `known_exploited_vulnerabilities.json`, carried in by hand), in the camaudit data dir.
   The feed names CVE, vendor, product, name and date added, not firmware ranges: a CVE the
   shipped table has keeps its affected products and takes the feed's name and date; a new
   one is listed with no affected product, so it names no device until an entry with a
   model pattern is added to the shipped table.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from camaudit.boundedio import TooLarge, read_capped
from camaudit.fingerprints.data import data_root

SHIPPED = "advisories/kev.toml"
USER_FILE = "advisories/kev.json"
MAX_FEED_BYTES = 32 << 20        # the whole KEV catalog is ~1.5 MiB (2026)
MAX_FEED_ENTRIES = 100_000
MAX_TEXT = 500                   # one name, product or URL
UNKNOWN = "unknown"
_CVE = re.compile(r"^CVE-\d{4}-\d{4,7}$")


class AdvisoryDataError(ValueError):
    """An advisory file could not be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Affected:
    product: str
    model: re.Pattern[str] | None              # None: every model of `device_types`
    device_types: frozenset[str]
    versions: tuple[tuple[str, str], ...] | None  # None: the advisory's range is unknown


@dataclass(frozen=True, slots=True)
class Advisory:
    cve: str
    vendor: str
    name: str
    kev_date_added: str                        # YYYY-MM-DD or "unknown"
    sources: tuple[str, ...]
    affected: tuple[Affected, ...]


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise AdvisoryDataError(f"{where}: {key} must be text of 1-{MAX_TEXT} characters")
    return value.strip()


def _date(value: Any, where: str) -> str:
    if value == UNKNOWN:
        return UNKNOWN
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise AdvisoryDataError(f"{where}: kev_date_added {value!r} is not YYYY-MM-DD or "
                                f"{UNKNOWN!r}") from None


def _affected(entry: Any, where: str) -> Affected:
    if not isinstance(entry, dict):
        raise AdvisoryDataError(f"{where}: an affected entry must be a table")
    model = entry.get("model")
    try:
        pattern = None if model is None else re.compile(str(model), re.IGNORECASE)
    except re.error as exc:
        raise AdvisoryDataError(f"{where}: model {model!r} is not a regex ({exc})") from None
    types = entry.get("device_types", [])
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise AdvisoryDataError(f"{where}: device_types must be a list of names")
    if pattern is None and not types:
        raise AdvisoryDataError(f"{where}: an entry without a model needs device_types")
    versions = entry.get("versions")
    if versions == UNKNOWN:
        ranges = None
    elif isinstance(versions, list) and versions and all(
            isinstance(v, dict) and set(v) == {"from", "to"} and all(isinstance(x, str) for x in v.values())
            for v in versions):
        ranges = tuple((v["from"], v["to"]) for v in versions)
    else:
        raise AdvisoryDataError(f"{where}: versions must be {UNKNOWN!r} or a list of {{from, to}}")
    return Affected(_text(entry, "product", where), pattern, frozenset(types), ranges)


def parse_advisory(entry: Any, where: str) -> Advisory:
    """One `[[advisory]]` table (or the same object in the user layer), checked."""
    if not isinstance(entry, dict):
        raise AdvisoryDataError(f"{where}: an advisory must be a table")
    cve = _text(entry, "cve", where)
    if not _CVE.match(cve):
        raise AdvisoryDataError(f"{where}: {cve!r} is not a CVE id")
    sources = entry.get("sources")
    if not isinstance(sources, list) or not sources or not all(
            isinstance(s, str) and s.startswith("https://") and len(s) <= MAX_TEXT for s in sources):
        raise AdvisoryDataError(f"{where}: sources must be a non-empty list of https URLs")
    affected = entry.get("affected", [])
    if not isinstance(affected, list):
        raise AdvisoryDataError(f"{where}: affected must be a list")
    return Advisory(cve, _text(entry, "vendor", where), _text(entry, "name", where),
                    _date(entry.get("kev_date_added"), where), tuple(sources),
                    tuple(_affected(a, f"{where} {cve}") for a in affected))


def to_dict(advisory: Advisory) -> dict[str, Any]:
    """The JSON form of one advisory (the user layer's and `advisories list --json`'s)."""
    return {"cve": advisory.cve, "vendor": advisory.vendor, "name": advisory.name,
            "kev_date_added": advisory.kev_date_added, "sources": list(advisory.sources),
            "affected": [{"product": a.product, **({"model": a.model.pattern} if a.model else {}),
                          "device_types": sorted(a.device_types),
                          "versions": UNKNOWN if a.versions is None else
                          [{"from": lo, "to": hi} for lo, hi in a.versions]}
                         for a in advisory.affected]}


def shipped_advisories(text: str | None = None) -> list[Advisory]:
    """The shipped table (or `text` in its format), checked; AdvisoryDataError when broken."""
    if text is None:
        text = data_root().joinpath(SHIPPED).read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AdvisoryDataError(f"{SHIPPED}: not TOML ({exc})") from None
    items = doc.get("advisory", [])
    advisories = [parse_advisory(a, f"{SHIPPED} advisory {i + 1}") for i, a in enumerate(items)]
    seen: set[str] = set()
    for a in advisories:
        if a.cve in seen:
            raise AdvisoryDataError(f"{SHIPPED}: {a.cve} is listed twice")
        seen.add(a.cve)
    return advisories


def user_path(user_dir: Path | None = None) -> Path:
    from camaudit.oui import data_dir

    return (user_dir if user_dir is not None else data_dir()) / USER_FILE


def load_advisories(user_dir: Path | None = None) -> tuple[Advisory, ...]:
    """The shipped table overlaid by the user's refresh, by CVE id (read once per file)."""
    return _load(user_path(user_dir))


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[Advisory, ...]:
    table = {a.cve: a for a in shipped_advisories()}
    if path.is_file():
        try:
            items = json.loads(read_capped(path, MAX_FEED_BYTES).decode("utf-8"))["advisories"]
            for i, item in enumerate(items):
                advisory = parse_advisory(item, f"{path} advisory {i + 1}")
                table[advisory.cve] = advisory
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise AdvisoryDataError(f"{path}: unusable ({exc}); run `camaudit advisories load "
                                    "FILE` again or delete it") from None
    return tuple(table.values())


def _flagged_vendor(vendor_project: str, names: dict[str, str]) -> str | None:
    return names.get(" ".join(vendor_project.split()).casefold())


def import_kev_feed(path: Path, vendors: dict[str, str],
                    shipped: list[Advisory] | None = None) -> tuple[list[Advisory], int]:
    """The flagged vendors' entries of a CISA KEV JSON feed, merged with the shipped table
    (see the module docstring); returns them and how many feed entries were read.

    `vendors` maps a case-folded spelling (vendor name or alias) to the vendor's name.
    Bounded: at most MAX_FEED_BYTES and MAX_FEED_ENTRIES; AdvisoryDataError on anything else.
    """
    try:
        raw = read_capped(path, MAX_FEED_BYTES)
        doc = json.loads(raw.decode("utf-8"))
    except TooLarge:
        raise AdvisoryDataError(f"{path}: larger than the {MAX_FEED_BYTES}-byte cap for a KEV "
                                "feed") from None
    except OSError as exc:
        raise AdvisoryDataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AdvisoryDataError(f"{path}: not JSON in UTF-8; expected CISA's "
                                "known_exploited_vulnerabilities.json") from None
    entries = doc.get("vulnerabilities") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise AdvisoryDataError(f"{path}: no \"vulnerabilities\" list; expected CISA's "
                                "known_exploited_vulnerabilities.json")
    if len(entries) > MAX_FEED_ENTRIES:
        raise AdvisoryDataError(f"{path}: more than {MAX_FEED_ENTRIES} entries")
    known = {a.cve: a for a in (shipped if shipped is not None else shipped_advisories())}
    out: dict[str, Advisory] = {}
    for i, entry in enumerate(entries):
        where = f"{path} entry {i + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("vendorProject"), str):
            raise AdvisoryDataError(f"{where}: not a KEV entry (no vendorProject)")
        vendor = _flagged_vendor(entry["vendorProject"], vendors)
        if vendor is None:
            continue
        cve = _text(entry, "cveID", where)
        base = known.get(cve)
        out[cve] = parse_advisory({
            "cve": cve, "vendor": vendor, "name": _text(entry, "vulnerabilityName", where),
            "kev_date_added": entry.get("dateAdded"),
            "sources": [f"https://www.cisa.gov/known-exploited-vulnerabilities-catalog?search_api_fulltext={cve}",
                        *(base.sources[1:] if base else [])],
            "affected": to_dict(base)["affected"] if base else []}, where)
    return list(out.values()), len(entries)


def save_user_layer(advisories: list[Advisory], user_dir: Path | None = None) -> Path:
    """Write the refreshed entries atomically (a reader sees the old file or the new one)."""
    target = user_path(user_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"advisories": [to_dict(a) for a in advisories]}, indent=1),
                   encoding="utf-8")
    os.replace(tmp, target)
    _load.cache_clear()
    return target

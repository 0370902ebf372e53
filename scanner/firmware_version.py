"""Comparable keys for the firmware strings flagged vendors' devices report.

A vendor advisory states affected firmware as ranges of that vendor's own version strings,
so a comparison only holds between strings of one *scheme*; across schemes (or for a string
no scheme reads) the answer is "cannot tell", never "older" or "newer":

* ``build``  Hikvision ``V5.5.0 build 170725`` (also ``V5.7.3build 220112``, ``Build``):
             (major, minor, patch, build date YYMMDD). The build date decides between two
             builds of one version.
* ``vrp``    Huawei VRP ``V300R019C10SPC200`` (also ``…SPH5``): (V, R, C, SPC, SPH), a
             missing SPC/SPH counting 0, so ``V300R019C10`` < ``V300R019C10SPC100``.
* ``dotted`` dotted numbers with an optional leading V and trailing letters, e.g. Dahua
             ``V2.800.0000000.11.R`` → (2, 800, 0, 11): leading zeros are not digits of
             value; missing trailing parts count 0 (``2.8`` == ``2.8.0``). A Hikvision
             version without its build (``V5.4.0``) is dotted, so it does not compare with
             a ``build`` bound: the build is what the advisories' bounds differ in.

Text around the version (``Firmware V5.4.0 build 160530``) is ignored; two versions in one
string, or none, leave the string unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_VERSION_CHARS = 200   # the store's firmware column; longer text is not a version string

_BUILD = re.compile(r"\bV?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\s*build\s*(\d{6})\b", re.IGNORECASE)
_VRP = re.compile(r"\bV(\d{3})R(\d{3})C(\d{2})(?:SPC(\d{1,4}))?(?:SPH(\d{1,4}))?(?![0-9A-Za-z])",
                  re.IGNORECASE)
_DOTTED = re.compile(r"(?<![\w.])V?(\d{1,9}(?:\.\d{1,9}){1,7})(?:\.[A-Za-z]{1,3})?(?![\w.])",
                     re.IGNORECASE)


@dataclass(frozen=True, slots=True, order=True)
class VersionKey:
    """A parsed version: comparable only with a key of the same `scheme`."""

    scheme: str
    parts: tuple[int, ...]


def version_key(text: str | None) -> VersionKey | None:
    """The key of the one version in `text`, or None when no scheme reads it unambiguously."""
    if not text or len(text) > MAX_VERSION_CHARS:
        return None
    for scheme, pattern in (("build", _BUILD), ("vrp", _VRP)):
        found = pattern.findall(text)
        if len(found) == 1:
            return VersionKey(scheme, tuple(int(p or 0) for p in found[0]))
        if found:
            return None
    dotted = _DOTTED.findall(text)
    if len(dotted) != 1:
        return None
    parts = [int(p) for p in dotted[0].split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()   # 2.8.0 == 2.8
    return VersionKey("dotted", tuple(parts))


def in_range(version: str | None, low: str, high: str) -> bool | None:
    """Whether `version` lies in [low, high] (both inclusive, as advisories write "X to Y");
    None when it cannot be told (unreadable version or bound, or different schemes)."""
    key, lo, hi = version_key(version), version_key(low), version_key(high)
    if key is None or lo is None or hi is None or not key.scheme == lo.scheme == hi.scheme:
        return None
    return lo.parts <= key.parts <= hi.parts

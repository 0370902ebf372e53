"""One fingerprint entry, its examples, and what it yields when it matches a value.

The schema (camaudit.fingerprints.schema) builds these from the vendor files; the matcher
(camaudit.fingerprints.matcher) runs `Fingerprint.test` over observation values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from camaudit.tiers import POSSIBLE

MAX_CAPTURE_CHARS = 128


@dataclass(frozen=True, slots=True)
class Example:
    """A value the entry must match, with the captures it must give (checked by verify)."""

    value: str
    expect: dict[str, str]   # captures expected (model, firmware, …; brand canonical), optionally vendor


@dataclass(slots=True, eq=False)
class Fingerprint:
    """One [[fingerprint]] entry as the schema accepted it; `compile()` readies `test()`."""

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
    # look-alikes the entry must not claim (another maker's banner, a page about the vendor)
    counter_examples: tuple[str, ...] = ()
    tier: str = POSSIBLE   # confirmed | probable | possible (camaudit.tiers)
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



@dataclass(frozen=True, slots=True)
class Hit:
    """One fingerprint that matched one value of one observation."""

    fingerprint: Fingerprint
    value: str
    captures: dict[str, str]
    vendor: str | None    # lineage this signal shows
    brand: str | None     # label this signal shows


"""Verify the fingerprint data against its own examples (`camaudit fingerprints verify`)."""

from __future__ import annotations

from typing import Any

from camaudit.fingerprints.fingerprint import Fingerprint
from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.fingerprints.errors import FingerprintError


def verify(fset: FingerprintSet) -> list[FingerprintError]:
    """Check every example: it matches its fingerprint with exactly the expected captures,
    no counter-example (a look-alike) matches it, and no earlier fingerprint on the same field and conditions matches it with a different
    vendor, brand or captures (that earlier entry would put a wrong answer next to the right
    one). Returns the problems; an empty list means the data is sound."""
    problems: list[FingerprintError] = []
    earlier: dict[tuple[Any, ...], list[Fingerprint]] = {}
    for fp in fset.fingerprints:
        key = (fp.source, fp.path, fp.when)
        problems.extend(_claimed_counter_examples(fp, fset))
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


def _claimed_counter_examples(fp: Fingerprint, fset: FingerprintSet) -> list[FingerprintError]:
    """Counter-examples the entry would claim. A `known_brand` entry whose capture the
    vocabulary does not know claims nothing, so such a match is no problem."""
    problems = []
    for value in fp.counter_examples:
        normal = value.replace("\u00a0", " ")
        caps = fp.test(normal)
        if caps is None or (fp.known_brand and fset.hit(fp, normal, caps).brand not in fset.vocabulary.brands):
            continue
        problems.append(FingerprintError(fp.file, fp.line, f"fingerprint {fp.id!r}: counter-example "
                                         f"{value!r} matches /{fp.pattern}/"))
    return problems

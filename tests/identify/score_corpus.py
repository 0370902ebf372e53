"""Recall and precision of identification on the public-example corpus (tests/identify/corpus/).

Usage: python tests/identify/score_corpus.py [--write-expected] [--json]

Every corpus record is one device (no MAC unless the record is about one: a single banner,
as a routed or filtered device shows) with the public source of its observations and the lineage it truly has (`expect`:
a flagged vendor, or null for a look-alike, a generic server or a page that only talks about a
vendor). The device is *recognised* when identify() names exactly that vendor; *recall* is
recognised / positives, *precision* is correct / all devices identify() gave a flagged vendor
(a look-alike named Hikvision, or a Huawei box named ZTE, both count against it).
`--write-expected` rewrites expected.txt, the recognitions no change may lose.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camaudit.fingerprints.loader import load_fingerprints
from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.identify import identify
from camaudit.observation import Observation
from camaudit.policy import load_policies

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = CORPUS / "expected.txt"
FLAGGED = frozenset({"Hikvision", "Dahua", "Huawei", "ZTE", "Hytera"})


@dataclass
class Tally:
    positives: int = 0
    recognised: int = 0
    claimed: int = 0        # devices identify() gave a flagged vendor
    correct: int = 0        # ... and it was the true one

    @property
    def recall(self) -> float:
        return self.recognised / self.positives if self.positives else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.claimed if self.claimed else 1.0


@dataclass
class Score:
    total: Tally = field(default_factory=Tally)
    by_vendor: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_signal: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    records: int = 0
    negatives: int = 0
    recognised_ids: list[str] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)
    wrong: list[dict[str, Any]] = field(default_factory=list)


def load_corpus(directory: Path = CORPUS) -> list[dict[str, Any]]:
    """All records of the corpus's *.jsonl files, in file order."""
    records = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line))
    return records


def score(records: list[dict[str, Any]], fset: FingerprintSet | None = None) -> Score:
    fset = fset or load_fingerprints()
    observations, owner = [], {}
    for n, rec in enumerate(records):
        ip = f"198.18.{n // 250}.{n % 250 + 1}"
        owner[ip] = rec
        for obs in rec["observations"]:
            observations.append(Observation.from_dict({"v": 1, "ip": ip, "mac": obs.get("mac"), "source": obs["source"],
                                                       "port": obs.get("port"), "status": "ok", "data": obs["data"]}))
    result = Score(records=len(records))
    for ident in identify(observations, fset, load_policies()):
        rec = owner[ident.ip]
        expect, got = rec.get("expect"), ident.vendor
        tallies = [result.total, result.by_signal[rec["signal"]]]
        if expect:
            tallies.append(result.by_vendor[expect])
        if got in FLAGGED and got != expect:
            tallies.append(result.by_vendor[got])
        for tally in tallies:
            if expect:
                tally.positives += 1
                tally.recognised += got == expect
            if got in FLAGGED:
                tally.claimed += 1
                tally.correct += got == expect
        if not expect:
            result.negatives += 1
        if expect and got == expect:
            result.recognised_ids.append(rec["id"])
        elif expect:
            result.missed.append({**rec, "got": got})
        elif got in FLAGGED:
            result.wrong.append({**rec, "got": got})
    result.recognised_ids.sort()
    return result


def expected_ids() -> set[str]:
    return set(EXPECTED.read_text("utf-8").split()) if EXPECTED.exists() else set()


def report(result: Score) -> str:
    rows = [f"{result.records} devices: {result.total.positives} of flagged vendors, {result.negatives} others",
            f"{'':24} {'positives':>9} {'recall':>7} {'claimed':>8} {'precision':>9}"]
    for title, table in (("vendor", result.by_vendor), ("signal", result.by_signal)):
        rows.append(f"by {title}:")
        for name, t in sorted(table.items()):
            rows.append(f"  {name:22} {t.positives:9d} {t.recall:7.3f} {t.claimed:8d} {t.precision:9.3f}")
    t = result.total
    rows.append(f"  {'ALL':22} {t.positives:9d} {t.recall:7.3f} {t.claimed:8d} {t.precision:9.3f}")
    for kind, items in (("missed", result.missed), ("wrongly flagged", result.wrong)):
        for rec in items:
            rows.append(f"{kind}: {rec['id']} expect={rec['expect']} got={rec['got']} "
                        f"{json.dumps(rec['observations'][0]['data'], ensure_ascii=False)[:150]}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-expected", action="store_true", help="rewrite corpus/expected.txt")
    parser.add_argument("--json", action="store_true", help="totals as one JSON object")
    args = parser.parse_args(argv)
    result = score(load_corpus())
    if args.write_expected:
        EXPECTED.write_text("".join(f"{i}\n" for i in result.recognised_ids), "utf-8")
    if args.json:
        print(json.dumps({"records": result.records, "positives": result.total.positives,
                          "recall": round(result.total.recall, 4), "precision": round(result.total.precision, 4),
                          "by_vendor": {k: [v.positives, round(v.recall, 4), round(v.precision, 4)]
                                        for k, v in sorted(result.by_vendor.items())},
                          "by_signal": {k: [v.positives, round(v.recall, 4), round(v.precision, 4)]
                                        for k, v in sorted(result.by_signal.items())}}))
    else:
        print(report(result))
    lost = expected_ids() - set(result.recognised_ids)
    if lost:
        print(f"LOST {len(lost)} earlier recognitions: {' '.join(sorted(lost))}", file=sys.stderr)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())

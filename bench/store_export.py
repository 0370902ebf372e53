"""Inventory costs: storing a large scan, exporting it, re-matching stored observations, and
ingesting an observation file.

No network: synthetic observations of a camera LAN (the mix of bench/match_throughput.py)
go through the same calls `camaudit scan` makes after probing — identify, `Store.begin_scan`,
`add_observations`, `record_identifications`, `finish_scan` — into a fresh SQLite file, or
the empty database a `--store-url` names (PostgreSQL). Exports, `rematch` and `ingest` then
run as the CLI commands a user types, measured as child processes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.match_throughput import synthetic, write_synthetic
from bench.measure import Cost, run
from bench.lab_scans import CAMAUDIT
from camaudit.db.store import Store
from camaudit import __version__
from camaudit.fingerprints.loader import load_fingerprints
from camaudit.identify import identify
from camaudit.observation import Observation
from camaudit.policy import load_policies

EXPORT_FORMATS = ("csv", "json", "xlsx", "html")


def device_observations(devices: int) -> Iterator[dict[str, Any]]:
    """Observations of exactly `devices` synthetic devices (all lines of the last one included)."""
    for obs in synthetic(10 ** 12):
        if _device_index(obs["ip"]) >= devices:
            return
        yield obs


def _device_index(ip: str) -> int:
    a, b, c, d = (int(x) for x in ip.split("."))
    return ((b - 18) << 16) | (c << 8) | d


def store_scan(url: str, observations: list[Observation]) -> dict[str, float]:
    """Identify and store one scan's observations the way `camaudit scan` does; seconds per
    step. `store_s` is storing the scan: `begin_scan` to `finish_scan`, what a site scanner
    makes the central database do; identifying (the matcher, timed by the match section)
    and creating the empty database's schema come before it."""
    fingerprints, policies = load_fingerprints(), load_policies()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    idents = identify(observations, fingerprints, policies)
    timings["identify_s"] = time.perf_counter() - t
    with Store(url) as store:
        t = start = time.perf_counter()
        scan_id = store.begin_scan(["198.18.0.0/15"], "bench", list(policies), __version__, None)
        store.add_observations(scan_id, observations)
        timings["add_observations_s"] = time.perf_counter() - t
        t = time.perf_counter()
        summary = store.record_identifications(scan_id, idents, covered=["198.18.0.0/15"])
        store.finish_scan(scan_id, "complete")
        timings["record_identifications_s"] = time.perf_counter() - t
        timings["store_s"] = time.perf_counter() - start
    timings["devices"] = len(idents)
    timings["flagged"] = sum(1 for i in idents if i.flagged)
    timings["findings_opened"] = summary.to_dict().get("findings_opened", 0)
    return timings


def store_and_export(devices: int, workdir: Path, log, url: str | None = None) -> dict[str, Any]:
    """Store a `devices`-device scan (into `url`, an empty database; default a fresh SQLite
    file), then export its findings in every format."""
    db = workdir / f"store-{devices}.sqlite"
    url = url or f"sqlite:///{db}"
    observations = [Observation.from_dict(d) for d in device_observations(devices)]
    t = time.perf_counter()
    steps = store_scan(url, observations)
    total = time.perf_counter() - t
    log(f"  stored {devices:,} devices ({len(observations):,} observations) in {steps['store_s']:.2f} s "
        f"(observations {steps['add_observations_s']:.2f}, assets/findings "
        f"{steps['record_identifications_s']:.2f}); with identify {steps['identify_s']:.2f} "
        f"and opening the database {total:.2f} s")
    result: dict[str, Any] = {"devices": devices, "observations": len(observations),
                              **{k: round(v, 2) for k, v in steps.items()},
                              "identify_and_store_s": round(total, 2),
                              "db": url.split(":", 1)[0], "export": {}}
    if db.exists():
        result["db_mib"] = round(db.stat().st_size / 2 ** 20, 1)
    for fmt in EXPORT_FORMATS:
        out = workdir / f"findings.{fmt}"
        cost = _cli(["export", "--format", fmt, "-o", str(out), "-q", "--db", url])
        result["export"][fmt] = {"wall_s": round(cost.wall, 2), "cpu_s": round(cost.cpu, 2),
                                 "peak_rss_mib": round(cost.peak_rss_mib, 1),
                                 "file_mib": round(out.stat().st_size / 2 ** 20, 2)}
        log(f"  export {fmt:5} {cost.wall:6.2f} s wall, {cost.peak_rss_mib:6.1f} MiB, "
            f"{result['export'][fmt]['file_mib']} MiB file")
    return result


def rematch_stored(observation_count: int, workdir: Path, log) -> dict[str, Any]:
    """Store `observation_count` observations as one scan, then time `camaudit rematch` on them."""
    db = workdir / f"rematch-{observation_count}.sqlite"
    url = f"sqlite:///{db}"
    observations = [Observation.from_dict(d) for d in itertools.islice(synthetic(observation_count),
                                                                         observation_count)]
    t = time.perf_counter()
    steps = store_scan(url, observations)
    log(f"  stored {len(observations):,} observations of {steps['devices']:,} devices "
        f"in {time.perf_counter() - t:.1f} s (setup, not the figure)")
    del observations
    cost = _cli(["rematch", "--json", "--db", url])
    log(f"  rematch {cost.wall:6.2f} s wall, {cost.cpu:6.2f} s CPU, {cost.peak_rss_mib:6.1f} MiB")
    return {"observations": observation_count, "devices": steps["devices"], "wall_s": round(cost.wall, 2),
            "cpu_s": round(cost.cpu, 2), "peak_rss_mib": round(cost.peak_rss_mib, 1),
            "observations_per_s": round(observation_count / cost.wall)}


def ingest_observations(observation_count: int, workdir: Path, log) -> dict[str, Any]:
    """`camaudit ingest` of a file of `observation_count` observations into a fresh SQLite
    file, then the same file again (a no-op after hashing it)."""
    path, url = workdir / "observations.jsonl", f"sqlite:///{workdir / 'ingest.sqlite'}"
    write_synthetic(path, observation_count)
    out: dict[str, Any] = {"observations": observation_count, "file_mib": round(path.stat().st_size / 2 ** 20)}
    for label in ("ingest", "again"):
        cost = _cli(["ingest", str(path), "--site", "bench", "--quiet", "--db", url, "--config", "/dev/null"])
        out[label] = {"wall_s": round(cost.wall, 2), "cpu_s": round(cost.cpu, 2),
                      "peak_rss_mib": round(cost.peak_rss_mib, 1)}
        log(f"  {label:6} {observation_count:,} obs ({out['file_mib']} MiB): {cost.wall:6.2f} s wall, "
            f"{cost.cpu:6.2f} s CPU, {cost.peak_rss_mib:6.1f} MiB")
    return out


def _cli(args: list[str]) -> Cost:
    cost = run([CAMAUDIT, *args])
    if cost.returncode not in (0, 1):
        raise RuntimeError(f"camaudit {' '.join(args)} exited {cost.returncode}: {cost.stderr[-2000:]}")
    return cost

"""`make bench`: camaudit's performance figures against the issue's targets, on the lab.

Sections (all by default; pick with --only):

  lan24    full audit of a /24 with 250 live lab devices: camaudit into SQLite, camaudit into a
           throwaway PostgreSQL, and `nmap -T4 -sV --version-light` alternately (A B C A B C …,
           --rounds each), medians and ratios
  empty    full audit of a /24 where nothing is alive (a cron scan of an empty VLAN)
  sparse   one fleet of --sparse-live devices spread over 198.19.0.0/16; camaudit on a /24,
           /22, /20 and the whole /16 of it (cost as addresses grow)
  live     dense /24s with fewer live devices (cost as live devices grow; 250 comes from lan24)
  ipv6     --lan-live devices as a dense IPv4 /24 and as an IPv6-only fdca:a0d1:0:2::/120, camaudit
           on each (what IPv6 costs beside the IPv4 figure)
  match    `camaudit match` throughput (bench/match_throughput.py)
  store    store a 10,000-device scan, export it as CSV/JSON/XLSX/HTML
  rematch  `camaudit rematch` over 1M stored observations
  ingest   `camaudit ingest` of a 1M-observation file, then of the same file again
  startup  `camaudit --version` and `camaudit scan --help` (median of 15 starts)
  pcap     `camaudit import pcap` of a 1M-packet capture of lab scan traffic (bench/capture_import.py)

Needs root (network namespaces). Every scan runs in a lab namespace without a default route.
Writes bench/results/bench-<UTC time>.json and prints a table. `--quick` is for development:
one round, smaller sizes, and its figures are not the issue's figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `bench.*` when run as a script

from bench import capture_import, lab_scans, match_throughput, startup, store_export  # noqa: E402
from camaudit.lab import pgcluster  # noqa: E402
from camaudit.model import DEFAULT_PORTS  # noqa: E402

SECTIONS = ("lan24", "empty", "sparse", "live", "ipv6", "match", "store", "rematch", "ingest", "pcap",
            "startup")
TARGETS = {"lan24_wall_s": 1.5, "lan24_rss_mib": 150.0, "lan24_speedup": 150.0, "lan24_pg_over_sqlite": 1.2,
           "empty24_wall_s": 1.0, "sparse16_wall_s": 20.0, "sparse16_rss_mib": 250.0,
           "match_obs_per_s": 50_000, "rematch_1m_s": 60.0, "pcap_packets_per_s": capture_import.TARGET_PACKETS_PER_S,
           "startup_s": startup.TARGET_S}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per lab measurement (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="1 round, smaller sizes: a smoke run while developing (not the issue's figures)")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only these sections (repeatable)")
    parser.add_argument("--nmap-rounds", type=int,
                        help="nmap rounds in lan24 (default: --rounds; 0 = camaudit only). nmap -sV takes minutes per round")
    parser.add_argument("--nmap-full", action="store_true",
                        help="compare with nmap -sV plus the scripts that ask what camaudit asks, "
                             "not nmap -T4 -sV --version-light")
    parser.add_argument("--no-postgres", action="store_true",
                        help="lan24 without the PostgreSQL rounds (they need root and the server binaries)")
    parser.add_argument("--ports", default=",".join(map(str, DEFAULT_PORTS)),
                        help="TCP ports for both tools (default: camaudit's default ports)")
    parser.add_argument("--lan-live", type=int, default=250, help="live devices on the /24 (default 250)")
    parser.add_argument("--sparse-live", type=int, default=1000, help="live devices over the /16 (default 1000)")
    parser.add_argument("--match-observations", type=int, help="observations for match (default 1M; quick 200k)")
    parser.add_argument("--store-devices", type=int, help="devices of the stored scan (default 10,000; quick 2,000)")
    parser.add_argument("--rematch-observations", type=int,
                        help="stored observations to rematch (default 1M; quick 100k)")
    parser.add_argument("--store-url",
                        help="store into this empty database (e.g. a throwaway PostgreSQL) instead of a fresh SQLite file")
    parser.add_argument("--ingest-observations", type=int, help="observations of the ingested file (default 1M; quick 100k)")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/bench-<time>.json)")
    args = parser.parse_args()
    if os.geteuid() != 0 and set(args.only or SECTIONS) & {"lan24", "empty", "sparse", "live", "ipv6", "pcap"}:
        parser.error("the lab sections need root (network namespaces); run as root or pick --only match/store/rematch")
    rounds = 1 if args.quick else args.rounds
    sizes = {"match": 200_000, "store": 2_000, "rematch": 100_000, "ingest": 100_000} if args.quick else \
            {"match": 1_000_000, "store": 10_000, "rematch": 1_000_000, "ingest": 1_000_000}
    sizes["pcap"] = 200_000 if args.quick else 1_000_000
    for key in ("match", "store", "rematch", "ingest"):
        chosen = getattr(args, {"match": "match_observations", "store": "store_devices",
                                "rematch": "rematch_observations", "ingest": "ingest_observations"}[key])
        sizes[key] = chosen or sizes[key]

    started = dt.datetime.now(dt.timezone.utc)
    results: dict[str, Any] = {"started": started.isoformat(timespec="seconds"), "quick": args.quick,
                               "rounds": rounds, "machine": _machine(), "targets": TARGETS}
    for section in args.only or SECTIONS:
        log(f"== {section}")
        t = time.perf_counter()
        try:
            results[section] = _run_section(section, args, rounds, sizes)
        except Exception as exc:  # noqa: BLE001 - one failed section must not lose the others' figures
            log(f"   {section} FAILED: {exc}")
            results.setdefault("failed", {})[section] = str(exc)
        log(f"   ({time.perf_counter() - t:.0f} s)")
    results["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    out = args.out or ROOT / "bench" / "results" / f"bench-{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(render(results))
    print(f"\nJSON: {out}")
    return 0


def _run_section(section: str, args: argparse.Namespace, rounds: int, sizes: dict[str, int]) -> Any:
    if section == "lan24":
        if args.no_postgres or pgcluster.unavailable_reason():
            return lab_scans.compare_with_nmap(args.lan_live, args.ports, rounds, log, args.nmap_rounds,
                                               nmap_light=not args.nmap_full)
        with pgcluster.throwaway_cluster() as cluster:
            return lab_scans.compare_with_nmap(args.lan_live, args.ports, rounds, log, args.nmap_rounds,
                                               nmap_light=not args.nmap_full, postgres=cluster)
    if section == "empty":
        return lab_scans.empty_segment(args.ports, max(rounds, 3), log)
    if section == "sparse":
        with lab_scans.fleet(args.sparse_live, dense=False) as lab:
            targets = ["198.19.0.0/24", "198.19.0.0/22", "198.19.0.0/20", "198.19.0.0/16"]
            return lab_scans.scan_series(lab, targets, args.ports, rounds, log)
    if section == "live":
        rows = []
        for live in (25, 100):
            with lab_scans.fleet(live, dense=True) as lab:
                rows += lab_scans.scan_series(lab, [lab_scans.DENSE_NET], args.ports, rounds, log)
        return rows
    if section == "ipv6":
        return lab_scans.ipv6_beside_ipv4(args.lan_live, args.ports, rounds, log)
    if section == "startup":
        return startup.measure(15, log)
    if section == "pcap":
        out = capture_import.measure(sizes["pcap"])
        log(f"  {out['packets_per_s']:,} packets/s, peak RSS {out['peak_rss_mib']} MiB")
        return out
    if section == "match":
        out = match_throughput.measure(sizes["match"])
        for name, m in out.items():
            log(f"  {name:6} {m['observations_per_s']:,} observations/s")
        return out
    with tempfile.TemporaryDirectory(prefix="ca-bench-") as tmp:
        if section == "store":
            return store_export.store_and_export(sizes["store"], Path(tmp), log, args.store_url)
        if section == "ingest":
            return store_export.ingest_observations(sizes["ingest"], Path(tmp), log)
        return store_export.rematch_stored(sizes["rematch"], Path(tmp), log)


def _machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
            "loadavg_at_start": [round(x, 2) for x in load]}


def render(r: dict[str, Any]) -> str:
    """The human table: one line per measurement, medians, and each figure against its target."""
    lines = [f"camaudit benchmark {r['started']} ({'QUICK — not the issue figures' if r['quick'] else 'full'}), "
             f"{r['rounds']} round(s), {r['machine']['cpus']} CPUs, load at start {r['machine']['loadavg_at_start']}",
             "", f"{'measurement':44} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'seen':>6} {'identified':>12}  target"]

    def row(name: str, m: dict[str, Any], target: str = "") -> None:
        ident = f"{m['identified']}/{m['of']}" if "identified" in m else ""
        seen = f"{m['seen']}" if "seen" in m else ""
        lines.append(f"{name:44} {m['wall_s']:8.2f} {m['cpu_s']:8.2f} {m.get('peak_rss_mib', 0):9.1f} "
                     f"{seen:>6} {ident:>12}  {target}")

    t = r.get("targets", TARGETS)
    if "lan24" in r:
        x = r["lan24"]
        sqlite = x["camaudit"]
        row(f"camaudit scan {x['target']} ({x['live']} live)", sqlite,
            _verdict(sqlite["wall_s"] <= t["lan24_wall_s"] and sqlite["peak_rss_mib"] <= t["lan24_rss_mib"],
                     f"<= {t['lan24_wall_s']} s, <= {t['lan24_rss_mib']:.0f} MiB"))
        if "camaudit_pg" in x:
            ratio = x["camaudit_pg"]["wall_s"] / sqlite["wall_s"]
            row("  the same into PostgreSQL", x["camaudit_pg"],
                _verdict(ratio <= t["lan24_pg_over_sqlite"], f"<= {t['lan24_pg_over_sqlite']}x SQLite")
                + f" ({ratio:.2f}x)")
        if "speedup_wall" in x:
            row(f"nmap {x.get('nmap_args', '')} same /24", x["nmap"])
            wanted = t["lan24_speedup"]
            lines.append(f"{'  ratio nmap/camaudit':44} {x['speedup_wall']:8.1f}x {x['speedup_cpu']:7.1f}x "
                         f"{'':22}{_verdict(x['speedup_wall'] >= wanted, f'>= {wanted:.0f}x')}")
    if "empty" in r:
        m = r["empty"]
        row(f"camaudit scan {m['target']} (nothing alive)", m,
            _verdict(m["wall_s"] <= t["empty24_wall_s"], f"<= {t['empty24_wall_s']} s"))
    for key in ("live", "sparse", "ipv6"):
        for m in r.get(key, []):
            target = ""
            if m["addresses"] == 65536:
                # a fast scan that missed devices is no pass: it must also have seen and named them
                target = _verdict(m["wall_s"] <= t["sparse16_wall_s"] and m["peak_rss_mib"] <= t["sparse16_rss_mib"]
                                  and m["seen"] == m["live"] and m["identified"] == m["of"],
                                  f"<= {t['sparse16_wall_s']:.0f} s, <= {t['sparse16_rss_mib']:.0f} MiB, all seen")
            row(f"camaudit scan {m['target']} ({m['live']} live)", m, target)
    if "match" in r:
        for name, m in r["match"].items():
            row(f"match {name} {m['observations']:,} obs: {m['observations_per_s']:,}/s", {**m, "peak_rss_mib": 0},
                _verdict(m["observations_per_s"] >= 50_000, ">= 50,000/s")
                + f" ({m['observations_per_cpu_s']:,} per CPU-s)")
    if "store" in r:
        s = r["store"]
        lines.append(f"{'store ' + format(s['devices'], ',') + ' devices (' + format(s['observations'], ',') + ' obs)':44} "
                     f"{s['store_s']:8.2f}  (begin_scan to finish_scan; {s['identify_and_store_s']:.2f} with "
                     f"identify and opening the database)")
        for fmt, m in s["export"].items():
            row(f"  export {fmt} ({m['file_mib']} MiB)", m)
    if "ingest" in r:
        for label in ("ingest", "again"):
            row(f"{label} {r['ingest']['observations']:,} obs file", r["ingest"][label])
    if "rematch" in r:
        m = r["rematch"]
        row(f"rematch {m['observations']:,} stored obs", m,
            _verdict(m["wall_s"] <= 60, "<= 60 s") if m["observations"] >= 1_000_000 else "(quick size)")
    if "pcap" in r:
        m = r["pcap"]
        row(f"import pcap {m['packets']:,} packets: {m['packets_per_s']:,}/s", m,
            _verdict(m["packets_per_s"] >= capture_import.TARGET_PACKETS_PER_S, ">= 200,000 packets/s"))
    for name, m in r.get("startup", {}).items():
        row(f"start-up: camaudit {' '.join(startup.COMMANDS[name])}", m,
            _verdict(m["wall_s"] <= startup.TARGET_S, f"<= {startup.TARGET_S} s"))
    for section, error in r.get("failed", {}).items():
        lines.append(f"{section} FAILED: {error[:300]}")
    return "\n".join(lines)


def _verdict(ok: bool, target: str) -> str:
    return f"{target}: {'met' if ok else 'MISSED'}"


if __name__ == "__main__":
    sys.exit(main())

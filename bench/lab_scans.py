"""Scans of the simulated lab: camaudit against the nmap equivalent, and how cost scales.

Every scan runs inside the lab's scanner namespace (`ip netns exec ca-<lab>-scan …`, as
`Lab.exec` does), which has routes for 198.18.0.0/15 only and no default route: no packet of
a benchmark can leave the lab.

Two fleet layouts, both macvlan fleets on 198.19.0.0/16 (docs/lab.md):

* dense — hosts at 198.19.0.2, .3, … so N ≤ 253 live devices share one /24 (the "camera LAN"
  figure); the lab itself spreads a fleet over the /16, so this layout swaps the address
  function while the plan is made (the lab's own code, nothing else, builds it);
* sparse — the lab's own layout: N hosts evenly over the /16 (a /24 holds N/256 of them).

An IPv6 fleet (`ipv6=True`) is IPv6-only, its hosts one after another from fdca:a0d1:0:2::2,
so N ≤ 254 share the /120 `IPV6_NET`: the IPv6 twin of the dense /24.

Fleets use the shipped personas that answer like real devices (the hostile ones exist to
test robustness and would measure their own timeouts, not the scanner).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from bench.measure import Cost, in_namespace, median_of, run
from camaudit.lab import Lab, pgcluster, select_personas, topology

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
# the nmap counterpart of each camaudit probe: -sV for banners (SSH, Telnet, SDK ports),
# scripts for the web UI, RTSP, certificates, WS-Discovery, SSDP/UPnP, mDNS and SNMP (UDP 161
# with the lab's community, as camaudit is given it)
NMAP_SCRIPTS = ("http-title,rtsp-methods,ssl-cert,broadcast-wsdd-discover,broadcast-upnp-info,"
                "broadcast-dns-service-discovery,snmp-sysdescr")
DENSE_NET = "198.19.0.0/24"
IPV6_NET = "fdca:a0d1:0:2::/120"
EMPTY_NET = "198.19.200.0/24"  # on the fleet's segment, empty in a small dense fleet (hosts from .0.2 up)


def realistic_personas() -> list[str]:
    return [p.id for p in select_personas(None) if not p.id.startswith("hostile-")]


def _dense_address(index: int, count: int) -> str:
    return str(topology.FLEET_NET.network_address + 2 + index)


@contextmanager
def fleet(count: int, *, dense: bool, ipv6: bool = False) -> Iterator[Lab]:
    """A fleet lab of `count` realistic devices, torn down on every exit (its own unique name)."""
    lab = Lab(f"bn{os.getpid() % 100000}{'v' if ipv6 else 'd' if dense else 's'}{count}"[:12])
    if dense and count > 253:
        raise ValueError(f"a dense fleet fits 253 devices in {DENSE_NET}, not {count}")
    layout = mock.patch.object(topology, "fleet_address", _dense_address) if dense else nullcontext()
    try:
        with layout:
            lab.up(only=realistic_personas(), count=count, ipv6=ipv6)
        yield lab
    finally:
        lab.down()


@dataclass(frozen=True, slots=True)
class Score:
    """How many lab devices a tool named correctly (ground truth from the lab)."""

    seen: int              # lab devices inside the target the tool reported at all
    vendor_known: int      # devices whose true vendor is known
    identified: int        # … of them given that vendor
    flagged_truth: int     # devices the lab says are flagged
    flagged_found: int     # … of them reported flagged

    def as_dict(self) -> dict[str, int]:
        return {"seen": self.seen, "identified": self.identified, "of": self.vendor_known,
                "flagged_found": self.flagged_found, "flagged_of": self.flagged_truth}


def score(truth: list[dict[str, Any]], devices: list[dict[str, Any]]) -> Score:
    by_ip = {d.get("ip"): d for d in devices}
    known = [t for t in truth if t.get("vendor")]
    identified = sum(1 for t in known
                     if (by_ip.get(t["ip"], {}).get("vendor") or "").lower() == t["vendor"].lower())
    flagged = [t for t in truth if t.get("flagged")]
    found = sum(1 for t in flagged if by_ip.get(t["ip"], {}).get("flagged"))
    seen = sum(1 for t in truth if t["ip"] in by_ip)
    return Score(seen, len(known), identified, len(flagged), found)


def camaudit_scan(lab: Lab, target: str, ports: str, workdir: Path, round_no: int,
                  db_url: str | None = None) -> tuple[Cost, list[dict]]:
    """One full audit as a user runs it: discovery, every probe, identify, store (a fresh
    SQLite file, or the fresh database `db_url` names)."""
    db_url = db_url or f"sqlite:///{workdir / f'scan-{lab.name}-{round_no}.sqlite'}"
    cost = run(in_namespace(lab.scanner_ns, [CAMAUDIT, "scan", target, "--ports", ports, "--json",
                                             "--snmp-community", topology.LAB_SNMP_COMMUNITY,
                                             "--db", db_url]))
    if cost.returncode not in (0, 1):
        raise RuntimeError(f"camaudit scan {target} in lab {lab.name} exited {cost.returncode}: {cost.stderr[-2000:]}")
    return cost, json.loads(cost.stdout)["devices"]


def nmap_scan(lab: Lab, target: str, ports: str, workdir: Path, round_no: int,
              light: bool = False) -> tuple[Cost, list[dict]]:
    """The nmap equivalent; its XML is identified afterwards by camaudit's own import + match
    (untimed), so both tools are scored by the same fingerprints.

    The full form asks what camaudit asks (-sV, the scripts above, UDP 161); `light` is
    `nmap -T4 -sV --version-light` on the same TCP ports, nmap's quick service scan."""
    xml = workdir / f"nmap-{lab.name}-{round_no}.xml"
    how = (["-T4", "-sV", "--version-light", "-p", ports] if light else
           ["-sS", "-sU", "-sV", "-p", f"T:{ports},U:161", "--script", NMAP_SCRIPTS, "--script-args",
            f"snmpcommunity={topology.LAB_SNMP_COMMUNITY}"])
    cost = run(in_namespace(lab.scanner_ns, ["nmap", "-n", *how, "-e", lab.scanner_iface, "-oX", str(xml), target]))
    if cost.returncode != 0:
        raise RuntimeError(f"nmap {target} in lab {lab.name} exited {cost.returncode}: {cost.stderr[-2000:]}")
    observations = subprocess.run([CAMAUDIT, "import", "nmap", str(xml)], capture_output=True, text=True).stdout
    matched = subprocess.run([CAMAUDIT, "match", "-"], input=observations, capture_output=True, text=True).stdout
    return cost, [json.loads(line) for line in matched.splitlines() if line.strip()]


def compare_with_nmap(count: int, ports: str, rounds: int, log, nmap_rounds: int | None = None,
                      nmap_light: bool = True, postgres: pgcluster.Cluster | None = None) -> dict[str, Any]:
    """camaudit and nmap alternately (A B A B …) on one dense /24 of `count` live devices.

    `nmap_rounds` (default `rounds`) can be lower: one nmap -sV round of 250 hosts takes many
    minutes, so camaudit may get more rounds than nmap (0 = camaudit only, no ratio).
    `nmap_light` picks `nmap -T4 -sV --version-light` over the full equivalent. With
    `postgres`, each round also stores the same audit into a fresh database of that cluster
    (`camaudit_pg`), reached over its Unix socket from inside the lab."""
    nmap_rounds = rounds if nmap_rounds is None else nmap_rounds

    def into_postgres(lab: Lab, target: str, ports: str, workdir: Path, r: int) -> tuple[Cost, list[dict]]:
        assert postgres is not None
        return camaudit_scan(lab, target, ports, workdir, r, postgres.socket_url(postgres.new_database("bench")))

    def nmap(lab: Lab, target: str, ports: str, workdir: Path, r: int) -> tuple[Cost, list[dict]]:
        return nmap_scan(lab, target, ports, workdir, r, light=nmap_light)

    with fleet(count, dense=True) as lab, tempfile.TemporaryDirectory(prefix="ca-bench-") as tmp:
        truth = lab.truth()
        runs: dict[str, list[Cost]] = {"camaudit": [], "camaudit_pg": [], "nmap": []}
        scores: dict[str, Score] = {}
        for r in range(rounds):
            tools = [("camaudit", camaudit_scan)] + ([("camaudit_pg", into_postgres)] if postgres else [])
            tools += [("nmap", nmap)] if r < nmap_rounds else []
            for tool, fn in tools:
                cost, devices = fn(lab, DENSE_NET, ports, Path(tmp), r)
                runs[tool].append(cost)
                scores[tool] = score(truth, devices)
                log(f"  round {r + 1}/{rounds} {tool:8} {cost.wall:7.2f} s wall, {cost.cpu:6.2f} s CPU, "
                    f"{cost.peak_rss_mib:6.1f} MiB, {scores[tool].identified}/{scores[tool].vendor_known} identified")
    result: dict[str, Any] = {"target": DENSE_NET, "live": count, "ports": ports,
                              "nmap_args": "-T4 -sV --version-light" if nmap_light else f"-sV --script {NMAP_SCRIPTS}"}
    for tool in scores:
        result[tool] = {**median_of(runs[tool]), **scores[tool].as_dict()}
    if "nmap" not in scores:
        return result
    result["speedup_wall"] = round(result["nmap"]["wall_s"] / result["camaudit"]["wall_s"], 1)
    result["speedup_cpu"] = round(result["nmap"]["cpu_s"] / max(result["camaudit"]["cpu_s"], 1e-3), 1)
    return result


def empty_segment(ports: str, rounds: int, log) -> dict[str, Any]:
    """A /24 with nothing alive on the scanner's own segment: what a cron scan of an empty VLAN
    costs (ARP to 254 silent addresses, the multicast sweeps' windows, a fresh SQLite)."""
    with fleet(3, dense=True) as lab:
        rows = scan_series(lab, [EMPTY_NET], ports, rounds, log)
    return rows[0]


def scan_series(lab: Lab, targets: list[str], ports: str, rounds: int, log) -> list[dict[str, Any]]:
    """camaudit over each target of one lab, `rounds` times each; medians per target."""
    truth = lab.truth()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ca-bench-") as tmp:
        for target in targets:
            costs, devices = [], []
            for r in range(rounds):
                cost, devices = camaudit_scan(lab, target, ports, Path(tmp), r)
                costs.append(cost)
                log(f"  {target:18} round {r + 1}/{rounds} {cost.wall:7.2f} s wall, {cost.cpu:6.2f} s CPU, "
                    f"{cost.peak_rss_mib:6.1f} MiB")
            live = [t for t in truth if _inside(t["ip"], target)]
            rows.append({"target": target, "addresses": _size(target), "live": len(live),
                         **median_of(costs), **score(live, devices).as_dict()})
    return rows


def ipv6_beside_ipv4(count: int, ports: str, rounds: int, log) -> list[dict[str, Any]]:
    """The same `count` devices as a dense IPv4 /24 fleet and as an IPv6-only /120 fleet,
    camaudit on each (same personas, ports and rounds): what IPv6 costs, side by side."""
    rows = []
    for ipv6, target in ((False, DENSE_NET), (True, IPV6_NET)):
        with fleet(count, dense=True, ipv6=ipv6) as lab:
            rows += scan_series(lab, [target], ports, rounds, log)
    return rows


def _inside(ip: str, target: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(target)


def _size(target: str) -> int:
    return ipaddress.ip_network(target).num_addresses

"""One audit: targets → engine scan → identify (active policies) → inventory → report outputs.

Two halves, so observations from any origin take the same way into the inventory:

* `run_audit` plans nothing and decides nothing about output: it opens the scan's inventory
  row (`recorded_scan`), runs the engine, and hands the observations to
  `record_observations`; the row is closed on every way out.
* `record_observations(store, scan_id, observations, ...)`: identify → store. An import of
  observations from a file, or passive capture, opens its own row with `recorded_scan` and
  calls it with its observations; the row's close writes the configured reports.

Failures surface as `AuditError`, carrying the stage's own typed error and the scan id; the
caller decides the message and the exit code. Warnings go into one list
(`AuditResult.warnings`) through one function, which logs each once as it arises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from camaudit import __version__
from camaudit.engine import ProgressFn
from camaudit.model import DEFAULT_PER_HOST, DEFAULT_PORTS, DEFAULT_RATE
from camaudit.exitcodes import ExitCode
from camaudit.targets import DEFAULT_MAX_TARGETS, TargetError, TargetSet, build_targets, drop_own_addresses
from camaudit.tiers import counts_for_exit

if TYPE_CHECKING:
    from camaudit.db.store import Store
    from camaudit.config import Config
    from camaudit.identify import Identification
    from camaudit.observation import Observation
    from camaudit.policy import PolicySet
    from camaudit.probes.base import Host

log = logging.getLogger(__name__)
OBSERVATION_CHUNK = 10_000  # observations handed to the store at once while identifying


class AuditError(Exception):
    """The audit stopped before it completed.

    `error` is what the failing stage raised, with its own type and data (TargetError,
    RouteError, PolicyError, NmapError, ScanInterrupted, StoreError, OSError); `scan_id` is the
    inventory row, already marked failed or interrupted (None when none was opened).
    """

    def __init__(self, error: BaseException, scan_id: int | None) -> None:
        super().__init__(str(error))
        self.error, self.scan_id = error, scan_id


@dataclass
class AuditPlan:
    """What one audit will do, checked before any file, lock or packet: `plan_audit` builds it."""

    config: Config
    targets: TargetSet
    policies: PolicySet
    per_host: int = DEFAULT_PER_HOST
    warnings: list[str] = field(default_factory=list)  # found while planning; reported first
    discover_ipv6: bool = False     # --discover-ipv6 (camaudit.discovery.multicast6)
    neighbour_cache: bool = False   # --use-neighbour-cache

    @property
    def covered(self) -> list[str]:
        """The networks the audit covers, as stored with its row ("not seen since" is per network).

        Link-local IPv6 networks are left out: the same fe80:: address recurs on every segment,
        so a scan of one interface says nothing about a device seen on another.
        """
        return [str(n) for n in [*self.targets.networks(), *self.targets.networks6()]
                if not getattr(n.network_address, "scope_id", None)]


@dataclass
class AuditResult:
    """What an audit did: its row, what it found, what it wrote, how long it took."""

    site: str | None
    targets: int
    scan_id: int | None = None
    hosts: list[Host] = field(default_factory=list)
    observations: int = 0
    identifications: list[Identification] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # open findings of flagged assets after the audit, `possible` ones aside (this audit's, unstored)
    open_flagged: int = 0
    reports: list[Path] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def flagged(self) -> int:
        """Flagged devices this audit identified."""
        return sum(1 for i in self.identifications if i.flagged)

    @property
    def flagged_for_exit(self) -> int:
        """Flagged devices this audit identified that count for exit code 1 (not `possible`)."""
        return sum(1 for i in self.identifications if i.flagged and counts_for_exit(i.tier))

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def exit_code(self) -> ExitCode:
        """1 while flagged devices have open findings, else 0 (the contract of camaudit.exitcodes)."""
        return ExitCode.FLAGGED if self.open_flagged else ExitCode.CLEAN

    def summary(self) -> dict[str, Any]:
        """The numbers of the `scan.finished` event and of `camaudit scan --json`."""
        return {"scan_id": self.scan_id, "site": self.site, "exit_code": int(self.exit_code),
                "targets": self.targets, "hosts": len(self.hosts), "seconds": round(self.seconds, 3),
                "flagged": self.flagged, "open_flagged": self.open_flagged,
                "reports": [str(p) for p in self.reports]}


def audit_targets(config: Config, *, force: bool = False) -> tuple[TargetSet, list[str]]:
    """The target set the effective config names (CLI > env > file), without this host's own
    addresses, and what was dropped and why (one message per reason, for the scan's warnings).

    Raises TargetError (also when nothing is left to scan) or RouteError.
    """
    from camaudit.discovery.route import addresses

    targets = build_targets(config.get("targets", []),
                            files=[config["targets_file"]] if config.get("targets_file") else [],
                            excludes=config.get("excludes", []),
                            exclude_files=[config["exclude_file"]] if config.get("exclude_file") else [],
                            max_targets=config.get("max_targets", DEFAULT_MAX_TARGETS), force=force)
    targets, dropped = drop_own_addresses(targets, [a.ip for a in addresses()])
    if not len(targets):
        raise TargetError(f"nothing left to scan: {'; '.join(dropped)}")
    return targets, dropped


def plan_audit(config: Config, *, force: bool = False, per_host: int = DEFAULT_PER_HOST,
               discover_ipv6: bool = False, neighbour_cache: bool = False) -> AuditPlan:
    """Targets, then the active policies. Raises TargetError or RouteError, then PolicyError."""
    from camaudit.policy import load_policies

    targets, dropped = audit_targets(config, force=force)
    return AuditPlan(config, targets, load_policies(list(config.get("policies") or []) or None), per_host,
                     warnings=dropped, discover_ipv6=discover_ipv6, neighbour_cache=neighbour_cache)


def run_audit(plan: AuditPlan, store: Store | None, *, progress: ProgressFn | None = None,
              on_observation: Callable[[Observation], None] | None = None) -> AuditResult:
    """Scan the plan's targets and record what answered; `store` None records nothing.

    `progress` and `on_observation` are the engine's callbacks. Each warning is logged once
    as it arises (the log's stderr handler is how a user sees it) and kept in the result.
    Raises AuditError.
    """
    from camaudit.db.errors import StoreError
    from camaudit.discovery.nmap import NmapError
    from camaudit.discovery.route import RouteError
    from camaudit.engine import ScanPlan
    from camaudit.engine import scan as run_plan
    from camaudit.fingerprints.loader import prefetch_fingerprints
    from camaudit.policy import PolicyError
    from camaudit.runlock import ScanInterrupted

    config = plan.config
    result = AuditResult(site=config.get("site"), targets=len(plan.targets))

    def warn(messages: Iterable[str]) -> None:
        for message in messages:
            result.warnings.append(message)
            log.warning(message, extra={"event": "scan.warning", "scan_id": result.scan_id})

    try:
        with recorded_scan(store, config, plan.covered, plan.policies) as rec:
            result.scan_id = rec.scan_id
            log.info("scan started", extra={"event": "scan.started", "scan_id": rec.scan_id,
                                            "site": result.site, "targets": result.targets})
            warn(plan.warnings)
            prefetch_fingerprints()  # identification's data loads while the scan waits on the network
            outcome = run_plan(ScanPlan(
                targets=plan.targets, ports=tuple(config.get("ports") or DEFAULT_PORTS),
                rate=float(config.get("rate") or DEFAULT_RATE), per_host=plan.per_host,
                interface=config.get("interface"), engine=config.get("engine") or "native",
                snmp_communities=tuple(config.get("snmp.communities") or ()),
                snmp_users=tuple(config.get("snmp.users") or ()),
                discover_ipv6=plan.discover_ipv6, neighbour_cache=plan.neighbour_cache,
                progress=progress, on_observation=on_observation))
            result.hosts, result.observations = outcome.hosts, len(outcome.observations)
            result.started, result.finished = outcome.started, outcome.finished
            warn(outcome.warnings)
            result.identifications = record_observations(store, rec.scan_id, outcome.observations,
                                                         plan.policies, covered=plan.covered, warn=warn)
    except (ScanInterrupted, RouteError, TargetError, PolicyError, NmapError, OSError, StoreError) as exc:
        raise AuditError(exc, result.scan_id) from exc
    # stored: counted after finish_scan's "not seen since" pass; unstored: this audit's devices
    result.open_flagged = result.flagged_for_exit if rec.open_flagged is None else rec.open_flagged
    result.reports = rec.reports
    log.info("scan finished", extra={"event": "scan.finished", **result.summary()})
    return result


def record_observations(store: Store | None, scan_id: int | None, observations: Iterable[Observation],
                        policies: PolicySet, *, covered: list[str], warn: Callable[[Iterable[str]], None],
                        on_identification: Callable[[Identification], None] | None = None,
                        ) -> list[Identification]:
    """Identify the devices behind `observations` and store both under the open row `scan_id`.

    The observations are read once, as a stream: each goes to the matcher and, a chunk at a
    time, to the store, so a million-line file costs memory per device, not per line (with
    the cyclic collector paused while matching, as `camaudit match` does). Returns the
    identifications; with `on_identification`, each goes to it instead (the list returned
    is empty), so a file of many devices does not hold them all besides the store's copy.
    A device the inventory refuses costs only itself: it becomes a warning, the rest is stored.
    """
    from camaudit.fingerprints.loader import load_fingerprints
    from camaudit.identify import Matcher
    from camaudit.match_stream import collector_paused

    matcher = Matcher(load_fingerprints(), policies)
    storing = store is not None and scan_id is not None
    chunk: list[Observation] = []
    with collector_paused():
        for obs in observations:
            matcher.add(obs)
            if storing:
                chunk.append(obs)
                if len(chunk) >= OBSERVATION_CHUNK:
                    store.add_observations(scan_id, chunk)  # type: ignore[union-attr,arg-type]
                    chunk = []
        if storing and chunk:
            store.add_observations(scan_id, chunk)  # type: ignore[union-attr,arg-type]
    del chunk
    identifications: list[Identification] = []
    if on_identification is None:
        identifications = list(matcher.identifications())
        del matcher  # the per-device match state is not needed while the devices are stored
        concluded: Iterable[Identification] = identifications
    else:
        concluded = _passed_to(matcher.identifications(), on_identification)
    if storing:
        stored = store.record_identifications(scan_id, concluded, covered=covered)  # type: ignore[union-attr,arg-type]
        warn([str(failure) for failure in stored.failures])
    else:
        for _ in concluded:
            pass
    return identifications


def _passed_to(identifications: Iterator[Identification],
               receiver: Callable[[Identification], None]) -> Iterator[Identification]:
    for ident in identifications:
        receiver(ident)
        yield ident


@dataclass(slots=True)
class Recording:
    """A scan's place in the inventory (all None when nothing is stored)."""

    scan_id: int | None = None
    open_flagged: int | None = None  # open findings of flagged assets, after the row closed
    reports: list[Path] = field(default_factory=list)  # exports the config asked for, written


@contextmanager
def recorded_scan(store: Store | None, config: Config, covered: list[str],
                  policies: PolicySet) -> Iterator[Recording]:
    """The inventory's row for a scan, opened *before* any packet and closed on every exit.

    Whatever stops the scan — a SIGTERM from cron, a crash — the row ends `interrupted` or
    `failed`, never `running`. After `complete`, the configured report outputs are written.
    """
    if store is None:
        yield Recording()
        return
    from camaudit.runlock import ScanInterrupted

    rec = Recording(store.begin_scan(covered, config.get("site"), list(policies), __version__, None))
    try:
        yield rec
    except ScanInterrupted:
        store.finish_scan(rec.scan_id, "interrupted")
        raise
    except BaseException:
        store.finish_scan(rec.scan_id, "failed")
        raise
    store.finish_scan(rec.scan_id, "complete")
    rec.open_flagged = store.open_flagged_count(config.get("site"))
    rec.reports = write_reports(store, config)


def write_reports(store: Store, config: Config) -> list[Path]:
    """Write the exports the config names (`[report]` html/csv/json/xlsx) after a scan.

    A site scanner exports its own site's findings. Raises OSError for an unwritable path
    (the exporters write atomically, so an old report is never left half-replaced).
    """
    from camaudit.report.service import Filters, export_findings

    written = []
    for fmt, name in config.reports().items():
        path = Path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            export_findings(store, fmt, path, filters=Filters(site=config.get("site")))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write the {fmt} report to {path} ({exc.strerror or exc}; "
                          f"from {config.source(f'report.{fmt}')}); make its directory writable "
                          "or change the path") from None
        written.append(path)
    return written

"""CLI wiring for `camaudit scan` and `camaudit import nmap`.

`scan`: options + config → `TargetSet` → `engine.run_scan` → `identify` (with the active
policies) → inventory store → a table of flagged devices on stdout → exit code
(0 clean, 1 open findings of flagged devices, 2 usage, 3 runtime, 75 locked). Progress goes
to stderr, only on a TTY. Every observation can also be written as JSON Lines.

`import nmap FILE.xml`: nmap XML → observations (JSON Lines on stdout or to a file), the
same records `camaudit match` reads.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import IO, Any

import click

from scanner import __version__
from scanner.cli.common import (CONFIG_OPTION, fatal, load_or_exit, log_options, start_logging,
                                 store_failure)
from scanner.engine import DEFAULT_PER_HOST, DEFAULT_PORTS, DEFAULT_RATE, ScanPlan
from scanner.exitcodes import ExitCode
from scanner.observation import Observation, write_jsonl
from scanner.outfile import OutputFileError, output_text
from scanner.targets import DEFAULT_MAX_TARGETS, TargetError, TargetSet, build_targets


log = logging.getLogger(__name__)


def targets_from(config: Any, force: bool) -> TargetSet:
    """The target set the effective config names (CLI > env > file), or exit 2 saying why."""
    try:
        return build_targets(config.get("targets", []),
                             files=[config["targets_file"]] if config.get("targets_file") else [],
                             excludes=config.get("excludes", []),
                             exclude_files=[config["exclude_file"]] if config.get("exclude_file") else [],
                             max_targets=config.get("max_targets", DEFAULT_MAX_TARGETS), force=force)
    except TargetError as exc:
        fatal(str(exc), ExitCode.USAGE)


@contextmanager
def progress_display(enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr when it is a TTY (and not --quiet); otherwise a no-op callback."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}
        labels = {"discover": "addresses swept", "probe": "probes done"}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)
        yield update


def _as_dict(ident: Any) -> dict[str, Any]:
    if hasattr(ident, "to_dict"):
        return ident.to_dict()
    return asdict(ident) if is_dataclass(ident) else dict(vars(ident))


def print_flagged(idents: list[Any], stream: IO[str]) -> None:
    """The flagged-devices table (plain text when stdout is not a terminal)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from scanner.report.sanitize import printable

    flagged = [i for i in idents if i.flagged]
    console = Console(file=stream, soft_wrap=True, width=None if stream.isatty() else 200)
    if not flagged:
        console.print(f"no flagged devices among {len(idents)} identified")
        return
    table = Table(title=f"{len(flagged)} flagged device(s) of {len(idents)} identified")
    for column in ("IP", "MAC", "vendor", "brand", "model", "evidence", "policies"):
        table.add_column(column)
    for i in flagged:
        evidence = ", ".join(sorted({f"{e.get('source')}:{e.get('port') or ''}".rstrip(":")
                                     for e in (i.evidence or [])}))
        # device-supplied text: no rich markup, no terminal control sequences
        table.add_row(*(Text(printable(str(value or ""))) for value in (
            i.ip, i.mac, i.vendor, i.brand, i.model, evidence, ", ".join(i.policies))))
    console.print(table)


@dataclass(slots=True)
class Recording:
    """This scan's place in the inventory (all None with --no-store)."""

    store: Any = None
    scan_id: int | None = None
    open_flagged: int | None = None  # open findings of flagged assets, after the scan closed
    reports: list[Path] = field(default_factory=list)  # exports the config asked for, written


@contextmanager
def recorded_scan(db_url: str | None, config: Any, targets: TargetSet, policies: list[Any]) -> Iterator[Recording]:
    """The inventory's row for this scan, opened *before* any packet and closed on every exit.

    Whatever stops the scan — a SIGTERM from cron, a crash — the row ends `interrupted` or
    `failed`, never `running`.
    """
    if db_url is None:
        yield Recording()
        return
    from db.store import Store
    from scanner.runlock import ScanInterrupted

    with Store(db_url) as store:
        rec = Recording(store, store.begin_scan([str(n) for n in targets.networks()], config.get("site"),
                                                policies, __version__, None))
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
        rec.reports = _write_reports(store, config)  # [report] outputs: after "complete"


def _write_reports(store: Any, config: Any) -> list[Path]:
    from scanner.report.service import Filters, export_findings

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


def _warn(warnings: list[str], scan_id: int | None, quiet: bool) -> None:
    """Log each scan warning, and show it on stderr unless --quiet."""
    for warning in warnings:
        log.warning(warning, extra={"event": "scan.warning", "scan_id": scan_id})
        if not quiet:
            click.echo(f"camaudit: warning: {warning}", err=True)


@click.command("scan")
@click.argument("target", nargs=-1)
@click.option("--targets-file", type=click.Path(dir_okay=False), help="File of targets, one or more per line.")
@click.option("--exclude", "excludes", multiple=True,
              help="Address, CIDR or range that must receive no packet (repeatable).")
@click.option("--exclude-file", type=click.Path(dir_okay=False), help="File of excludes.")
@click.option("--ports", help=f"TCP ports for discovery and probes (default {','.join(map(str, DEFAULT_PORTS))}).")
@click.option("--rate", type=int, help=f"Discovery packets/connection attempts per second, whole scan (default {DEFAULT_RATE:.0f}); "
              "probes of ports found open are capped by --per-host instead.")
@click.option("--per-host", type=click.IntRange(1, 16), default=DEFAULT_PER_HOST, show_default=True,
              help="Concurrent connections per device.")
@click.option("--engine", type=click.Choice(["native", "nmap"]), help="Discovery backend (default native).")
@click.option("--interface", help="Interface for ARP/multicast (default: the route to the targets).")
@click.option("--max-targets", type=int, help=f"Refuse more addresses than this (default {DEFAULT_MAX_TARGETS}).")
@click.option("--force", is_flag=True, help="Scan even above --max-targets.")
@click.option("--observations-out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Also write every observation as JSON Lines here ('-' for stdout).")
@click.option("--db", help="Inventory database URL (default: SQLite in the user data dir).")
@click.option("--no-store", is_flag=True, help="Do not record this scan in the inventory.")
@click.option("--site", help="Site name stored with the scan.")
@click.option("--policy", "policies", multiple=True, help="Policy id that flags devices (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print identifications as JSON instead of a table.")
@click.option("--quiet", is_flag=True, help="No progress, no table: only the exit code (for cron).")
@CONFIG_OPTION
@log_options
def scan(target: tuple[str, ...], targets_file: str | None, excludes: tuple[str, ...],
         exclude_file: str | None, ports: str | None, rate: int | None, per_host: int,
         engine: str | None, interface: str | None, max_targets: int | None, force: bool,
         observations_out: str | None, db: str | None, no_store: bool, site: str | None,
         policies: tuple[str, ...], as_json: bool, quiet: bool, config_path: Path | None,
         log_format: str | None, log_file: str | None, log_level: str | None) -> None:
    """Scan the TARGETs you name (CIDR, range 198.18.0.10-40, or address) for flagged devices.

    Exit 0: no open findings; 1: flagged devices with open findings; 2: usage error;
    3: runtime error; 75: another scan holds the inventory's lock.
    """
    from db.store import StoreError
    from scanner.discovery.nmap import NmapError
    from scanner.discovery.route import RouteError
    from scanner.engine import scan as run_plan
    from scanner.fingerprints.loader import load_fingerprints
    from scanner.identify import identify
    from scanner.policy import PolicyError, load_policies
    from scanner.runlock import LockHeld, ScanInterrupted, scan_lock, stop_signals

    config = load_or_exit({"targets": target, "targets_file": targets_file, "excludes": excludes,
                           "exclude_file": exclude_file, "ports": ports, "rate": rate,
                           "engine": engine, "interface": interface, "max_targets": max_targets,
                           "site": site, "policies": policies, "db": db, "log_format": log_format,
                           "log_file": log_file, "log_level": log_level}, config_path)
    start_logging(config, quiet)
    targets = targets_from(config, force)
    db_url = config.db_url()
    out_ctx = (nullcontext(sys.stdout) if observations_out == "-" else
               output_text(observations_out) if observations_out else nullcontext(None))
    rec = None
    try:
        active = load_policies(list(config.get("policies") or []) or None)  # bad --policy: exit 2 first
        with (nullcontext() if no_store else scan_lock(db_url)), stop_signals(), out_ctx as out_stream, \
                recorded_scan(None if no_store else db_url, config, targets, list(active)) as rec, \
                progress_display(not quiet) as progress:
            log.info("scan started", extra={"event": "scan.started", "scan_id": rec.scan_id,
                                            "site": config.get("site"), "targets": len(targets)})
            plan = ScanPlan(targets=targets, ports=tuple(config.get("ports") or DEFAULT_PORTS),
                            rate=float(config.get("rate") or DEFAULT_RATE), per_host=per_host,
                            interface=config.get("interface"), engine=config.get("engine") or "native",
                            progress=progress,
                            on_observation=(lambda o: write_jsonl([o], out_stream)) if out_stream else None)
            outcome = run_plan(plan)
            _warn(outcome.warnings, rec.scan_id, quiet)
            idents = identify(outcome.observations, load_fingerprints(), active)
            open_flagged = flagged_here = sum(1 for i in idents if i.flagged)
            if rec.store is not None:
                rec.store.add_observations(rec.scan_id, outcome.observations)
                stored = rec.store.record_identifications(rec.scan_id, idents,
                                                          covered=[str(n) for n in targets.networks()])
                # devices the inventory refused: the others are stored, the scan completes
                refused = [str(failure) for failure in stored.failures]
                outcome.warnings.extend(refused)
                _warn(refused, rec.scan_id, quiet)
        if rec.open_flagged is not None:  # counted after finish_scan's "not seen since" pass
            open_flagged = rec.open_flagged
        scan_id = rec.scan_id
    except OutputFileError as exc:  # --observations-out: names the path and the fix
        fatal(str(exc), exc.exit_code, event="scan.failed", scan_id=rec and rec.scan_id)
    except LockHeld as exc:
        fatal(str(exc), ExitCode.LOCKED, event="scan.locked", lock=str(exc.path), holder=exc.holder)
    except (RouteError, TargetError, PolicyError) as exc:
        fatal(str(exc), ExitCode.USAGE, event="scan.failed", scan_id=rec and rec.scan_id)
    except ScanInterrupted as exc:
        fatal(f"scan {exc}; its inventory row is marked interrupted", ExitCode.RUNTIME, event="scan.interrupted",
              scan_id=rec and rec.scan_id, signal=exc.signum)
    except (NmapError, OSError) as exc:
        fatal(f"scan failed: {exc}", ExitCode.RUNTIME, event="scan.failed", scan_id=rec and rec.scan_id)
    except StoreError as exc:
        message, code = store_failure(exc)
        fatal(message, code, event="scan.failed", scan_id=rec and rec.scan_id)
    exit_code = ExitCode.FLAGGED if open_flagged else ExitCode.CLEAN
    seconds = round(outcome.finished - outcome.started, 3)
    summary = {"scan_id": scan_id, "site": config.get("site"), "exit_code": int(exit_code),
               "targets": len(targets), "hosts": len(outcome.hosts), "seconds": seconds,
               "flagged": flagged_here, "open_flagged": open_flagged, "reports": [str(p) for p in rec.reports]}
    log.info("scan finished", extra={"event": "scan.finished", **summary})
    if observations_out == "-":
        pass  # stdout carries the observations; a table would corrupt the stream
    elif as_json:
        click.echo(json.dumps({**summary, "warnings": outcome.warnings,
                               "devices": [_as_dict(i) for i in idents]}, default=str, indent=1))
    elif not quiet:
        print_flagged(idents, sys.stdout)
        click.echo(f"{len(outcome.hosts)} hosts up of {len(targets)} addresses, "
                   f"{len(outcome.observations)} observations in "
                   f"{outcome.finished - outcome.started:.1f} s"
                   + (f"; scan #{scan_id} stored" if scan_id is not None else ""), err=True)
    sys.exit(exit_code)


@click.group("import")
def import_group() -> None:
    """Turn other tools' output into camaudit observations."""


@import_group.command("nmap")
@click.argument("xml_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              show_default=True, help="Where to write the observations (JSON Lines).")
def import_nmap(xml_file: str, output: str) -> None:
    """Read nmap XML (`nmap -n -sV -oX FILE`, MACs when run on the local segment) as observations.

    Pipe the result into `camaudit match` to identify the devices.
    """
    from itertools import chain

    from scanner.imports.nmap_xml import NmapXmlError, read_file

    observations = read_file(xml_file)  # a generator: written as the file is read
    try:
        first = next(observations, None)  # a file that is not nmap XML fails before any output
        with (nullcontext(sys.stdout) if output == "-" else output_text(output)) as out:
            count = write_jsonl(chain([first] if first is not None else [], observations), out)
    except NmapXmlError as exc:
        fatal(f"cannot import {xml_file}: {exc}", ExitCode.USAGE)
    except OutputFileError as exc:
        fatal(str(exc), exc.exit_code)
    click.echo(f"{count} observations from {xml_file}", err=True)


def register(main: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    main.add_command(scan)
    main.add_command(import_group)

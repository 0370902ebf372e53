"""CLI wiring for `camaudit scan` and `camaudit import nmap`.

`scan`: options + config → `camaudit.audit` (plan, then run: targets → engine → identify →
inventory → reports) → a table of flagged devices on stdout → exit code (0 clean, 1 open
findings of flagged devices, 2 usage, 3 runtime, 75 locked). Progress goes to stderr, only
on a TTY. Every observation can also be written as JSON Lines.

`import nmap FILE.xml`: nmap XML → observations (JSON Lines on stdout or to a file), the
same records `camaudit match` reads.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from camaudit import __version__
from camaudit.cli.common import (CONFIG_OPTION, fatal, load_or_exit, log_options, open_store, recording_options,
                                 start_logging, stdout_text, store_failure)
from camaudit.model import DEFAULT_PER_HOST, DEFAULT_PORTS, DEFAULT_RATE
from camaudit.exitcodes import ExitCode
from camaudit.observation import write_jsonl
from camaudit.outfile import OutputFileError, output_text
from camaudit.targets import DEFAULT_MAX_TARGETS, TargetError

SCAN_TOOL = f"camaudit {__version__} scan"  # the `tool` of each line --observations-out writes


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


def _stop(error: BaseException, scan_id: int | None) -> NoReturn:
    """End a scan that could not complete: the message, exit code and log event of its cause."""
    from camaudit.db.store import StoreError
    from camaudit.discovery.nmap import NmapError
    from camaudit.discovery.route import RouteError
    from camaudit.policy import PolicyError
    from camaudit.runlock import LockHeld, ScanInterrupted

    if isinstance(error, OutputFileError):  # --observations-out: names the path and the fix
        fatal(str(error), error.exit_code, event="scan.failed", scan_id=scan_id)
    if isinstance(error, LockHeld):
        fatal(str(error), ExitCode.LOCKED, event="scan.locked", lock=str(error.path), holder=error.holder)
    if isinstance(error, (RouteError, TargetError, PolicyError)):
        fatal(str(error), ExitCode.USAGE, event="scan.failed", scan_id=scan_id)
    if isinstance(error, ScanInterrupted):
        fatal(f"scan {error}; its inventory row is marked interrupted", ExitCode.RUNTIME,
              event="scan.interrupted", scan_id=scan_id, signal=error.signum)
    if isinstance(error, StoreError):
        fatal(*store_failure(error), event="scan.failed", scan_id=scan_id)
    if isinstance(error, (NmapError, OSError)):
        fatal(f"scan failed: {error}", ExitCode.RUNTIME, event="scan.failed", scan_id=scan_id)
    raise error  # not a scan failure: a bug, reported by the top-level group


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
@click.option("--snmp-community", "snmp_communities", multiple=True, metavar="NAME",
              help="SNMPv2c community to ask every live device on UDP 161 (repeatable; a secret, prefer "
                   "the config file). SNMPv3 users are set in the config file only ([[snmp.users]]). "
                   "Without either no SNMP packet is sent.")
@click.option("--interface", help="Interface for ARP/multicast (default: the route to the targets).")
@click.option("--discover-ipv6", is_flag=True,
              help="Also find IPv6 hosts on the interface by multicast (echo to ff02::1, WS-Discovery, "
                   "mDNS, SSDP) and scan them; without it IPv6 multicast is only the neighbour "
                   "solicitation of named on-link targets.")
@click.option("--use-neighbour-cache", "neighbour_cache", is_flag=True,
              help="Read this host's IPv6 neighbour table for the interface (sends nothing).")
@click.option("--max-targets", type=int, help=f"Refuse more addresses than this (default {DEFAULT_MAX_TARGETS}).")
@click.option("--force", is_flag=True, help="Scan even above --max-targets, or an IPv6 sweep above a /112 (never above a /96).")
@recording_options("scan")
@click.option("--json", "as_json", is_flag=True, help="Print identifications as JSON instead of a table.")
@click.option("--quiet", is_flag=True, help="No progress, no table: only the exit code (for cron).")
@CONFIG_OPTION
@log_options
def scan(target: tuple[str, ...], targets_file: str | None, excludes: tuple[str, ...],
         exclude_file: str | None, ports: str | None, rate: int | None, per_host: int,
         engine: str | None, snmp_communities: tuple[str, ...], interface: str | None,
         discover_ipv6: bool, neighbour_cache: bool, max_targets: int | None, force: bool,
         observations_out: str | None, db: str | None, no_store: bool, site: str | None,
         policies: tuple[str, ...], as_json: bool, quiet: bool, config_path: Path | None,
         log_format: str | None, log_file: str | None, log_level: str | None) -> None:
    """Scan the TARGETs you name (CIDR, range 198.18.0.10-40, address; IPv6 too) for flagged devices.

    Exit 0: no open findings; 1: flagged devices with open findings; 2: usage error;
    3: runtime error; 75: another scan holds the inventory's lock.
    """
    from camaudit.audit import AuditError, AuditResult, plan_audit, run_audit
    from camaudit.discovery.route import RouteError
    from camaudit.policy import PolicyError
    from camaudit.runlock import LockHeld, ScanInterrupted, scan_lock, stop_signals

    config = load_or_exit({"targets": target, "targets_file": targets_file, "excludes": excludes,
                           "exclude_file": exclude_file, "ports": ports, "rate": rate,
                           "engine": engine, "snmp.communities": snmp_communities, "interface": interface, "max_targets": max_targets,
                           "site": site, "policies": policies, "db": db, "log_format": log_format,
                           "log_file": log_file, "log_level": log_level}, config_path)
    start_logging(config, quiet)
    try:
        plan = plan_audit(config, force=force, per_host=per_host, discover_ipv6=discover_ipv6,
                          neighbour_cache=neighbour_cache)
    except (TargetError, RouteError) as exc:  # before the scan has a row: nothing to log
        fatal(str(exc), ExitCode.USAGE)
    except PolicyError as exc:  # a bad --policy: exit 2 before any file, lock or packet
        _stop(exc, None)
    out_ctx = (stdout_text() if observations_out == "-" else
               output_text(observations_out) if observations_out else nullcontext(None))
    result: AuditResult | None = None
    try:
        with (nullcontext() if no_store else scan_lock(config.db_url())), stop_signals(), \
                out_ctx as out_stream, \
                (nullcontext() if no_store else open_store(config, event="scan.failed")) as store, \
                progress_display(not quiet) as progress:
            result = run_audit(plan, store, progress=progress,
                               on_observation=(lambda o: write_jsonl([o], out_stream, SCAN_TOOL)) if out_stream else None)
    except AuditError as exc:
        _stop(exc.error, exc.scan_id)
    except (OutputFileError, LockHeld, ScanInterrupted) as exc:  # around the audit, not in it
        _stop(exc, result and result.scan_id)
    if observations_out == "-":
        pass  # stdout carries the observations; a table would corrupt the stream
    elif as_json:
        click.echo(json.dumps({**result.summary(), "warnings": result.warnings,
                               "devices": [_as_dict(i) for i in result.identifications]},
                              default=str, indent=1))
    elif not quiet:
        from camaudit.report.flagged import print_flagged  # rich: only for the table (≈ 40 ms)

        print_flagged(result.identifications, sys.stdout)
        click.echo(f"{len(result.hosts)} hosts up of {result.targets} addresses, "
                   f"{result.observations} observations in {result.seconds:.1f} s"
                   + (f"; scan #{result.scan_id} stored" if result.scan_id is not None else ""), err=True)
    sys.exit(result.exit_code)


def register(main: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    main.add_command(scan)

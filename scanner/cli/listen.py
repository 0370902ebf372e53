"""CLI wiring for `camaudit listen --interface IF`: passive capture stored as a scan (the
service is `camaudit.audit.listen`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import click

from camaudit.cli.common import (CONFIG_OPTION, fatal, load_or_exit, log_options, open_store, recording_options,
                                 start_logging, stdout_text)
from camaudit.exitcodes import ExitCode


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A one-line status on stderr when it is a TTY (and not --quiet); else no callback (cron)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.status import Status

    with Status("listening…", console=Console(stderr=True)) as status:
        def update(frames: int, devices: int, flagged: int) -> None:
            status.update(f"listening: {frames} frames, {devices} devices heard, {flagged} flagged so far")
        yield update


@click.command("listen")
@click.option("--interface", required=True, metavar="IF",
              help="Interface to listen on (required: camaudit never picks one).")
@click.option("--duration", type=click.FloatRange(min=0.1), metavar="S",
              help="Stop after S seconds (default: until SIGINT/SIGTERM).")
@click.option("--promiscuous", is_flag=True,
              help="Also hear unicast frames to other hosts (sets the NIC promiscuous; sends nothing).")
@recording_options("capture")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary and the devices heard.")
@click.option("--quiet", is_flag=True, help="No progress, no table: only the exit code (for cron).")
@CONFIG_OPTION
@log_options
def listen(interface: str, duration: float | None, promiscuous: bool, observations_out: str | None,
           db: str | None, no_store: bool, site: str | None, policies: tuple[str, ...], as_json: bool,
           quiet: bool, config_path: Path | None, log_format: str | None, log_file: str | None,
           log_level: str | None) -> None:
    """Identify devices from what they announce on INTERFACE, sending nothing.

    Hears discovery announcements, DHCP, LLDP and other traffic that reaches this host (see
    docs/passive.md), until --duration or SIGINT/SIGTERM, then stores what it heard as a
    scan. Needs root or CAP_NET_RAW. Exit 0: no open findings; 1: flagged devices with open
    findings; 2: usage error (no such interface, no permission); 3: runtime error; 75:
    another scan holds the inventory's lock.
    """
    from camaudit.audit.listen import listen as run_listen
    from camaudit.outfile import OutputFileError, output_text
    from camaudit.passive.live import ListenError
    from camaudit.policy import PolicyError, load_policies
    from camaudit.report.flagged import print_flagged
    from camaudit.runlock import LockHeld, scan_lock

    config = load_or_exit({"site": site, "db": db, "policies": policies, "log_format": log_format,
                           "log_file": log_file, "log_level": log_level}, config_path)
    start_logging(config, quiet)
    try:
        active = load_policies(list(config.get("policies") or []) or None)
    except PolicyError as exc:
        fatal(str(exc), ExitCode.USAGE)

    def warn(messages: Iterable[str]) -> None:
        for message in messages:
            click.echo(f"camaudit listen: {message}", err=True)

    out_ctx = (stdout_text() if observations_out == "-" else
               output_text(observations_out) if observations_out else nullcontext(None))
    try:
        with (nullcontext() if no_store else scan_lock(config.db_url())), out_ctx as out_stream, \
                (nullcontext() if no_store else open_store(config, event="listen.failed")) as store, \
                _progress(not quiet and not as_json) as progress:
            result = run_listen(store, config, interface, active, duration=duration, promiscuous=promiscuous,
                                observations_out=out_stream, progress=progress, warn=warn)
    except ListenError as exc:
        fatal(str(exc), ExitCode.USAGE)
    except LockHeld as exc:
        fatal(str(exc), ExitCode.LOCKED)
    except OutputFileError as exc:
        fatal(str(exc), exc.exit_code)
    except OSError as exc:  # a configured report that cannot be written
        fatal(f"listen failed: {exc}", ExitCode.RUNTIME)
    if as_json:
        click.echo(json.dumps({**result.summary(), "devices": [i.to_dict() for i in result.identifications]},
                              default=str, indent=1))
    elif observations_out != "-" and not quiet:
        print_flagged(result.identifications, sys.stdout)
        click.echo(f"heard {len(result.identifications)} devices ({result.flagged} flagged) in "
                   f"{result.counts.frames} frames over {result.seconds:.1f} s, stopped by {result.stopped_by}"
                   + (f"; scan #{result.scan_id} stored" if result.scan_id is not None else ""), err=True)
    sys.exit(ExitCode.FLAGGED if result.open_flagged else ExitCode.CLEAN)


def register(main: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    main.add_command(listen)

"""CLI wiring for `camaudit ingest FILE… --site NAME`: observation files stored as scans
(the service is `camaudit.audit.ingest`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from camaudit.cli.common import CONFIG_OPTION, fatal, load_or_exit, open_store, start_logging
from camaudit.exitcodes import ExitCode
from camaudit.match_stream import skipped_lines


@click.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--site", help="Site name stored with each scan (the site the observations were made at).")
@click.option("--db", help="Inventory database URL (default: SQLite in the user data dir).")
@click.option("--policy", "policies", multiple=True, help="Policy id that flags devices (default: all).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file on stdout.")
@click.option("--quiet", is_flag=True, help="Only the exit code and errors.")
@CONFIG_OPTION
def ingest(files: tuple[Path, ...], site: str | None, db: str | None, policies: tuple[str, ...],
           as_json: bool, quiet: bool, config_path: Path | None) -> None:
    """Store observation FILES (JSON Lines, docs/observations.md) as scans of the inventory.

    Each file becomes one scan, identified, stored and turned into findings as a live scan
    would be, with the file's name, SHA-256, tool and observation times on the scan row. A
    file already ingested (same SHA-256) is skipped. Exit 0: no open findings; 1: flagged
    devices with open findings; 2: a file refused (other format version, unreadable, no
    observation; the other files are still ingested); 3: the inventory failed.
    """
    from camaudit.audit.ingest import IngestRefused, ingest_file
    from camaudit.policy import PolicyError, load_policies
    from camaudit.runlock import LockHeld, scan_lock

    config = load_or_exit({"site": site, "db": db, "policies": policies}, config_path)
    start_logging(config, quiet)
    try:
        active = load_policies(list(config.get("policies") or []) or None)
    except PolicyError as exc:
        fatal(str(exc), ExitCode.USAGE)
    refused, open_flagged = False, 0

    def warn(messages: Iterable[str]) -> None:
        for message in messages:
            click.echo(f"camaudit ingest: {message}", err=True)

    try:
        with scan_lock(config.db_url()), open_store(config, event="ingest.failed") as store:
            for path in files:
                try:
                    result = ingest_file(store, config, path, active, warn)
                except IngestRefused as exc:
                    click.echo(f"camaudit ingest: {exc}", err=True)
                    refused = True
                    continue
                if result.skipped:
                    warn([f"{path}: {skipped_lines(result.skipped)}"])
                open_flagged = result.open_flagged if result.already is None else open_flagged
                if as_json:
                    click.echo(json.dumps({"file": result.file, "sha256": result.sha256,
                                           "scan_id": result.scan_id, "already_ingested_as": result.already,
                                           "observations": result.observations, "devices": result.devices,
                                           "flagged": result.flagged, "skipped_lines": len(result.skipped)}))
                elif result.already is not None:
                    click.echo(f"{path}: already ingested as scan #{result.already} (same SHA-256); "
                               "nothing to do", err=True)
                elif not quiet:
                    click.echo(f"{path}: {result.observations} observations, {result.devices} devices "
                               f"({result.flagged} flagged); scan #{result.scan_id} stored", err=True)
    except LockHeld as exc:
        fatal(str(exc), ExitCode.LOCKED)
    except OSError as exc:  # a configured report that cannot be written
        fatal(f"ingest failed: {exc}", ExitCode.RUNTIME)
    if refused:
        sys.exit(ExitCode.USAGE)
    sys.exit(ExitCode.FLAGGED if open_flagged else ExitCode.CLEAN)


def register(main: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    main.add_command(ingest)

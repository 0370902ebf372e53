"""CLI wiring for `camaudit export` and `camaudit report`.

Parse options, open the store, call `camaudit.report.service` / `camaudit.report.terminal`,
map the outcome to an exit code. Data goes to stdout (or the -o file); messages to stderr.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import click
from rich.console import Console

from camaudit.db.lifecycle import ALL_STATUSES
from camaudit.cli.common import TIER_OPTION, fatal, load_or_exit, open_store
from camaudit.exitcodes import ExitCode
from camaudit.outfile import OutputFileError
from camaudit.report import EXPORTERS
from camaudit.report.sanitize import TerminalWriter
from camaudit.report.service import Filters, export_findings, format_for_path
from camaudit.report.terminal import print_summary


def register(main: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    main.add_command(export)
    main.add_command(report)


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """`--since 2026-11-01` or a full ISO timestamp; a time without zone is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


BY_POLICY_OPTION = click.option("--by-policy", is_flag=True,
                                help="One row per finding (device × policy) instead of per device.")


def _filter_options(command: click.Command) -> click.Command:
    """The finding filters and database options both commands take."""
    for option in reversed([
        click.option("--status", multiple=True, type=click.Choice(ALL_STATUSES),
                     help="Only findings in this status (repeatable)."),
        click.option("--site", help="Only findings of assets at this site."),
        click.option("--policy", help="Only findings under this policy id."),
        click.option("--vendor", help="Only findings of this vendor (lineage, e.g. Hikvision)."),
        click.option("--since", callback=_since, metavar="DATE",
                     help="Only findings seen or changed since DATE (ISO 8601)."),
        TIER_OPTION,
        BY_POLICY_OPTION,
        click.option("--db", "db_url", metavar="URL", help="Inventory database URL."),
        click.option("--config", "config_path", metavar="FILE", help="Config file (for the db URL)."),
    ]):
        command = option(command)
    return command


@click.command()
@click.option("-f", "--format", "fmt", type=click.Choice(sorted(EXPORTERS)),
              help="Export format (default: from the -o file suffix).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of stdout: a file atomically (mode 0600), a FIFO or device "
                   "directly; a symlink is refused (docs/exports.md).")
@click.option("-q", "--quiet", is_flag=True, help="No message on stderr after writing.")
@_filter_options
def export(fmt: str | None, output: Path | None, quiet: bool, status: tuple[str, ...],
           site: str | None, policy: str | None, vendor: str | None, since: datetime | None,
           tiers: list[str], by_policy: bool, db_url: str | None, config_path: str | None) -> None:
    """Export the remediation list, one row per flagged device (--by-policy: per finding), as
    CSV, JSON, XLSX or a self-contained HTML report.

    Device-supplied text is made inert for each format: spreadsheet formulas are neutralised
    in CSV/XLSX and everything is escaped in HTML. The JSON layout is documented in
    docs/exports.md.
    """
    fmt = fmt or (format_for_path(output) if output else None)
    if fmt is None:
        raise click.UsageError("say which format: --format csv|json|xlsx|html "
                               "(or an -o file ending in .csv, .json, .xlsx or .html)")
    stdout: BinaryIO = sys.stdout.buffer
    if output is None and fmt == "xlsx" and stdout.isatty():
        raise click.UsageError("XLSX is binary; write it to a file with -o FILE.xlsx")
    if output is None and stdout.isatty():  # a file or pipe gets the data unchanged
        stdout = TerminalWriter(stdout)
    filters = Filters(status=status, site=site, policy=policy, vendor=vendor, since=since,
                      tier=tuple(tiers))
    with open_store(load_or_exit({"db": db_url}, config_path)) as store:
        try:
            result = export_findings(store, fmt, output, filters=filters, stream=stdout,
                                     by_policy=by_policy)
        except OutputFileError as exc:  # the -o path: its message names the path and the fix
            fatal(str(exc), exc.exit_code)
        except OSError as exc:
            fatal(f"cannot write the {fmt} export to {output or 'stdout'}: {exc.strerror or exc}; "
                  "check that the directory exists and is writable (no partial file was left)",
                  ExitCode.RUNTIME)
    if output is not None and not quiet:
        click.echo(f"wrote {result.rows} {'findings' if by_policy else 'devices'} to {output}", err=True)


@click.command()
@_filter_options
def report(status: tuple[str, ...], site: str | None, policy: str | None, vendor: str | None,
           since: datetime | None, tiers: list[str], by_policy: bool, db_url: str | None,
           config_path: str | None) -> None:
    """Print a summary of the inventory's findings as tables on the console, the oldest open
    devices (--by-policy: findings) last.

    Exit code 1 when open or in-progress findings of confirmed or probable devices remain
    (0 when none: `possible` ones are listed for review), like `camaudit scan`, so a cron
    job can alert on it.
    """
    filters = Filters(status=status, site=site, policy=policy, vendor=vendor, since=since,
                      tier=tuple(tiers))
    with open_store(load_or_exit({"db": db_url}, config_path)) as store:
        rows = (store.finding_rows if by_policy else store.device_rows)(**filters.query())
        series = store.scan_series(site=site)
    console = Console(file=sys.stdout, highlight=False)
    summary = print_summary(rows, series, console, today=datetime.now(timezone.utc).date())
    sys.exit(ExitCode.FLAGGED if summary.alerting else ExitCode.CLEAN)

"""What every command shares: ending with a message and exit code, the config, the inventory.

Command modules import this one and never each other, so a command's wiring reads top to
bottom in its own module and a change to one command cannot break another's imports.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from camaudit.config import Config, ConfigError, load_config
from camaudit.exitcodes import ExitCode
from camaudit.redact import mask_secrets

if TYPE_CHECKING:
    from camaudit.db.store import Store

log = logging.getLogger(__name__)


class ExitCodeGroup(click.Group):
    """The top-level group: failures no command anticipated still honour the exit-code contract.

    Left alone, an uncaught exception ends Python with status 1 and click turns Ctrl-C into
    status 1 as well — and 1 means "flagged devices found" to every cron wrapper. Here an
    interruption, a reader that closed the output early and an unexpected error all end with
    3 (runtime error), with a message; only the unexpected error adds the traceback on
    stderr, for the bug report.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # the reader left early (camaudit … | head): not a bug
            click.echo("camaudit: the output's reader closed it (broken pipe); the rest was not written",
                       err=True)
            ctx.exit(ExitCode.RUNTIME)
        except KeyboardInterrupt as exc:  # SIGINT/SIGTERM where no command handled it
            click.echo(f"camaudit: interrupted{f' ({exc})' if str(exc) else ''}", err=True)
            ctx.exit(ExitCode.RUNTIME)
        except Exception as exc:
            import traceback

            # a traceback quotes arguments and messages, which may hold a database URL
            click.echo(mask_secrets(traceback.format_exc().rstrip()), err=True)
            click.echo(f"camaudit: unexpected error: {exc.__class__.__name__}: {mask_secrets(str(exc))}; this is a "
                       "camaudit bug — please report it with the command line and the traceback above",
                       err=True)
            ctx.exit(ExitCode.RUNTIME)


def fatal(message: str, code: ExitCode, *, prog: str = "camaudit", event: str | None = None,
          **fields: Any) -> NoReturn:
    """End the command: `prog: message` on stderr and exit `code`.

    With `event`, a log record too (the events of docs/operations.md), carrying `fields`.
    """
    if event:
        log.info(message, extra={"event": event, "exit_code": int(code), **fields})
    click.echo(f"{prog}: {message}", err=True)
    sys.exit(code)


CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $CAMAUDIT_CONFIG, /etc/camaudit/config.toml, then the user config dir).")


def _tiers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    """`--tier possible --tier probable` or `--tier possible,probable`, checked (exit 2)."""
    from camaudit.tiers import parse_tiers

    try:
        return parse_tiers(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


TIER_OPTION = click.option(
    "--tier", "tiers", multiple=True, metavar="TIER", callback=_tiers,
    help="Only findings of devices identified with this confidence tier: confirmed, probable "
         "or possible (repeatable, or a comma list).")


def load_or_exit(cli: dict[str, Any] | None = None, config_path: str | Path | None = None) -> Config:
    """The effective config of a command (CLI > env > file); a bad value ends it with exit 2."""
    try:
        return load_config(cli, config_path=config_path)
    except ConfigError as exc:
        fatal(f"configuration error: {exc}", ExitCode.USAGE)


def recording_options(what: str) -> Callable[[Any], Any]:
    """--observations-out/--db/--no-store/--site/--policy for commands whose observations go
    through the audit pipeline into the inventory (`scan`, `listen`); `what` names the run in
    the help ("scan", "capture")."""
    def apply(command: Any) -> Any:
        for option in reversed([
            click.option("--observations-out", type=click.Path(dir_okay=False, allow_dash=True),
                         help="Also write every observation as JSON Lines here ('-' for stdout)."),
            click.option("--db", help="Inventory database URL (default: SQLite in the user data dir)."),
            click.option("--no-store", is_flag=True, help=f"Do not record this {what} in the inventory."),
            click.option("--site", help=f"Site name stored with the {what}."),
            click.option("--policy", "policies", multiple=True, help="Policy id that flags devices (default: all)."),
        ]):
            command = option(command)
        return command
    return apply


def log_options(command: Any) -> Any:
    """--log-format/--log-file/--log-level for commands that run unattended (config keys too)."""
    for option in reversed([
        click.option("--log-format", type=click.Choice(["text", "json"]),
                     help="Log lines as text or JSON (one object per line, for SIEM ingestion)."),
        click.option("--log-file", type=click.Path(dir_okay=False),
                     help="Also append log records to this file (created 0640; logrotate-safe)."),
        click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
                     help="Lowest level logged (default info)."),
    ]):
        command = option(command)
    return command


def start_logging(config: Config, quiet: bool) -> None:
    """Configure logging from the effective config; an unusable log file is a usage error (2)."""
    from camaudit.logs import setup_logging

    try:
        setup_logging(fmt=config["log_format"], level=config["log_level"],
                      log_file=config["log_file"], quiet=quiet)
    except OSError as exc:
        fatal(f"cannot open log file {config['log_file']} ({exc.strerror or exc}; "
              f"from {config.source('log_file')}); fix: create its directory writable for "
              "this user, or choose another log_file", ExitCode.USAGE)


@contextmanager
def open_store(config: Config, *, migrate_schema: bool = True, event: str | None = None) -> Iterator[Store]:
    """The inventory the config names; a store error inside ends the command with its message.

    The one way a command opens the inventory. A database that cannot be opened exits 3;
    inside the block, `store_failure` picks the code. `event` logs the failure as that event.
    """
    from camaudit.db.lifecycle import TransitionError
    from camaudit.db.store import Store, StoreError

    try:
        store = Store(config.get("db"), migrate_schema=migrate_schema)
    except StoreError as exc:
        fatal(store_failure(exc)[0], ExitCode.RUNTIME, event=event, scan_id=None)
    try:
        yield store
    except (StoreError, TransitionError) as exc:
        fatal(*store_failure(exc), event=event, scan_id=None)
    finally:
        store.close()


def store_failure(exc: Exception) -> tuple[str, ExitCode]:
    """The one-line message and exit code of a store error: what failed and what to do.

    The store's exceptions carry the facts; the advice, which names options of these
    commands, is worded here. A database that cannot be used exits 3; a request the
    inventory refuses (unknown finding, over-long value, refused transition) exits 2.
    """
    from camaudit.db.lifecycle import TransitionError
    from camaudit.db.errors import (
        AmbiguousAsset,
        BadDatabaseUrl,
        CorruptDatabase,
        ForeignDatabase,
        InMemoryDatabase,
        NewerSchema,
        NoSuchAsset,
        NoSuchFinding,
        NoSuchScan,
        NotEnoughScans,
        ScanFinished,
        StoreUnavailable,
        TextTooLong,
        UnsupportedDatabase,
    )

    if isinstance(exc, CorruptDatabase):
        return (f"{exc}; restore the file from a backup, or give --db a new file "
                "(camaudit creates it)", ExitCode.RUNTIME)
    if isinstance(exc, ForeignDatabase):
        return (f"{exc}; camaudit left it untouched: give --db a new file or an empty "
                "database for the inventory", ExitCode.RUNTIME)
    if isinstance(exc, NewerSchema):
        return (f"{exc}; a newer camaudit wrote it: upgrade camaudit, or give --db another "
                "inventory", ExitCode.RUNTIME)
    if isinstance(exc, StoreUnavailable):
        if exc.path is not None:
            return f"{exc}; choose a writable path with --db sqlite:///PATH", ExitCode.RUNTIME
        return (f"{exc}; check the --db URL, that the server runs and the file is writable",
                ExitCode.RUNTIME)
    if isinstance(exc, AmbiguousAsset):
        advice = "add --site or use the asset id" if exc.sites else \
            "use the asset id (A…) from `camaudit assets`"
        return f"{exc}; {advice}", ExitCode.USAGE
    advice = {BadDatabaseUrl: "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
              UnsupportedDatabase: "use SQLite or PostgreSQL",
              InMemoryDatabase: "give a file path: --db sqlite:///PATH",
              NoSuchFinding: "list them with `camaudit findings`",
              NoSuchAsset: "list them with `camaudit assets`",
              NoSuchScan: "list scans with `camaudit diff --list`",
              NotEnoughScans: "name them: camaudit diff SCAN_A SCAN_B",
              ScanFinished: "start a new scan"}.get(type(exc))
    if advice is not None:
        return f"{exc}; {advice}", ExitCode.USAGE
    if isinstance(exc, TransitionError):
        advice = {"needs_expires": "give --expires DATE", "needs_note": "give --note with the reason",
                  "expires_not_future": "give a later --expires",
                  "expires_without_risk": "drop --expires, or use --status risk_accepted",
                  }.get(exc.reason)
        return (f"{exc}; {advice}" if advice else str(exc)), ExitCode.USAGE
    if isinstance(exc, TextTooLong):
        return (f"{exc.field} is too long ({exc.length} characters); the inventory keeps at "
                f"most {exc.limit}: shorten it", ExitCode.USAGE)
    return str(exc), ExitCode.USAGE


@contextmanager
def stdout_text() -> Iterator[IO[str]]:
    """Standard output for JSON Lines (observations, identifications): unchanged for a file
    or pipe; on a terminal through `TerminalWriter`, since JSON leaves C1 controls and bidi
    overrides a device sent as they are, and they would drive the terminal."""
    if not sys.stdout.isatty():
        yield sys.stdout
        return
    from camaudit.report.sanitize import TerminalWriter

    sys.stdout.flush()
    text = io.TextIOWrapper(io.BufferedWriter(TerminalWriter(sys.stdout.buffer)), encoding="utf-8",
                            line_buffering=True)
    try:
        yield text
    finally:
        text.flush()
        text.detach()

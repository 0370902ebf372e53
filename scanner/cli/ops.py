"""CLI wiring for operating camaudit: `config check`, `doctor`, `demo`.

The logic lives in camaudit.config, camaudit.doctor and camaudit.demo; these commands parse
options, call them, print, and map the outcome to an exit code (camaudit.exitcodes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from camaudit.cli.common import CONFIG_OPTION, fatal, load_or_exit
from camaudit.config import KEYS, ConfigError, check_paths, load_config
from camaudit.exitcodes import ExitCode
from camaudit.redact import MASK, mask_secrets


def _show(value: Any) -> str:
    if value is None or value == []:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _masked(name: str, value: Any) -> Any:
    """A secret key's value as one *** per entry (how many is useful, what is not)."""
    if KEYS[name].secret and value:
        return [MASK] * len(value) if isinstance(value, list) else MASK
    return value


@click.group("config")
def config_group() -> None:
    """Inspect the configuration (file, CAMAUDIT_* environment, defaults)."""


@config_group.command("check")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the effective config as JSON.")
@click.option("--keys", "list_keys", is_flag=True, help="List every key with its env variable and an example.")
def config_check(config_path: Path | None, as_json: bool, list_keys: bool) -> None:
    """Validate the config and print every effective value with where it came from.

    Exit 0 when valid, 2 with the file, key and a fix when not.
    """
    if list_keys:
        for key in KEYS.values():
            click.echo(f"{key.name:<13} {key.env:<22} {key.cli:<15} {key.help}\n"
                       f"{'':<13} e.g. {key.example.replace(chr(10), ' / ')}")
        return
    config = load_or_exit(None, config_path)
    problems = check_paths(config)
    for problem in problems:
        click.echo(f"camaudit: configuration error: {problem}", err=True)
    if problems:
        sys.exit(ExitCode.USAGE)
    db_url = mask_secrets(config.db_url())  # config output is pasted into tickets
    if as_json:
        settings = {name: {"value": _masked(name, value), "source": source} for name, value, source in config.items()}
        settings["db"]["value"] = db_url
        click.echo(json.dumps({"file": str(config.file) if config.file else None,
                               "valid": True, "settings": settings}, indent=2))
        return
    click.echo(f"config file: {config.file or 'none (defaults, CAMAUDIT_* environment only)'}")
    rows = [(name, _show(db_url if name == "db" else _masked(name, value)), source)
            for name, value, source in config.items()]
    width = max(len(v) for _, v, _ in rows)
    width = min(width, 60)
    for name, value, source in rows:
        click.echo(f"  {name:<13} {value:<{width}}  ({source})")
    if not config["targets"] and not config["targets_file"]:
        click.echo("note: no targets configured; `camaudit scan` needs TARGET arguments or --targets-file")
    click.echo("configuration is valid")


@click.command("doctor")
@CONFIG_OPTION
@click.option("--db", "db", metavar="URL", help="Inventory database to check (default: from the config).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(config_path: Path | None, db: str | None, as_json: bool) -> None:
    """Check privileges, nmap, interfaces, OUI data, fingerprints and the database.

    Sends no packets. Exit 0 when nothing failed (warnings allowed), 3 when a check failed.
    """
    from camaudit import doctor as checks

    try:
        config = load_config({"db": db}, config_path=config_path)
        config_check = checks.Check("config", checks.Level.OK,
                                    f"{config.file or 'no config file'}: valid")
    except ConfigError as exc:
        # --db itself may be what is wrong: the database check then reports it, masked
        config = load_config({}, config_path="/dev/null", env={})
        config_check = checks.Check("config", checks.Level.FAIL, exc.summary, exc.fix)
    results = checks.run_checks(db or config.db_url(), config_check)
    if as_json:
        click.echo(checks.as_json(results))
    else:
        for c in results:
            click.echo(f"{c.level.value:<4}  {c.name:<12}  {c.detail}")
            if c.fix and c.level is not checks.Level.OK:
                click.echo(f"{'':<4}  {'':<12}  fix: {c.fix}")
    if any(c.level is checks.Level.FAIL for c in results):
        sys.exit(ExitCode.RUNTIME)


def _lab_name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from camaudit.lab.topology import check_name

    try:
        return check_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/demo"),
              show_default=True, help="Where the demo inventory, HTML report and remediation CSV are written.")
@click.option("--name", "lab_name", default="cademo", show_default=True, callback=_lab_name,
              help="Lab name reserved for the demo (a leftover lab of this name is removed first).")
def demo(out_dir: Path, lab_name: str) -> None:
    """Bring the simulated lab up, scan it, print the findings, write the HTML report, tear it down.

    Needs root (network namespaces). Every packet stays inside the lab's namespaces; the lab
    is removed even on Ctrl-C or an error. Exit 0 when the demo ran, 3 when it could not.
    """
    from rich.console import Console

    from camaudit.demo import DemoError, run_demo

    def progress(message: str) -> None:
        click.echo(f"camaudit demo: {message}", err=True)

    try:
        console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 160)
        result = run_demo(out_dir, console, progress, lab_name)
    except DemoError as exc:
        fatal(str(exc), ExitCode.RUNTIME, prog="camaudit demo")
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the lab is already down (run_demo's finally)
        fatal("interrupted; the lab was removed", ExitCode.RUNTIME, prog="camaudit demo")
    click.echo(f"{result.flagged_assets} flagged device(s) among {result.devices} simulated devices")
    click.echo(f"HTML report: {result.report}")
    click.echo(f"remediation list (one row per flagged device): {result.remediation}")


def register(main: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    main.add_command(config_group)
    main.add_command(doctor)
    main.add_command(demo)

"""Command line: wiring only. Each module of this package registers its own commands.

Logic lives in the layers below (engine, identify, db, report); a command parses options,
calls one service function and maps the outcome to an exit code (`camaudit.exitcodes`).
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys

import click

from camaudit import __version__
from camaudit.cli import patient_stdio
from camaudit.cli.common import ExitCodeGroup

# Command name → the module of this package that registers it. A command's module (and what it
# imports: the engine, SQLAlchemy, scapy, jinja2) is loaded only when that command runs or
# help lists it, so `camaudit --version` and `camaudit scan --help` start in a fraction of the
# time. tests/ops/test_cli_commands.py checks this table against what the modules register.
COMMAND_MODULES = {
    "scan": "scan", "import": "imports",
    "ingest": "ingest", "listen": "listen",
    "match": "match", "fingerprints": "match", "oui": "match",
    "assets": "inventory", "findings": "inventory", "history": "inventory", "diff": "inventory",
    "remediate": "inventory", "rematch": "inventory", "db": "inventory",
    "register": "register", "advisories": "register",
    "export": "reports", "report": "reports",
    "config": "ops", "doctor": "ops", "demo": "ops",
    "lab": "lab",
}


class LazyGroup(ExitCodeGroup):
    """The top-level group, loading each command's module the first time the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"camaudit.cli.{COMMAND_MODULES[cmd_name]}").register(self)
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="camaudit")
def main() -> None:
    """Find equipment of flagged vendors (Hikvision, Dahua, Huawei, ZTE, Hytera and their OEMs)
    on networks you name, and track its removal.

    camaudit never picks targets by itself: every address it probes comes from the targets
    you give it, minus your excludes.
    """


def console() -> None:
    """The `camaudit` executable: run the CLI, then exit without tearing down every module.

    Interpreter teardown of what a scan imports (SQLAlchemy, alembic, scapy) took 0.2-0.3 s
    after the command had finished, about a tenth of a /24 audit. Exit handlers (logging,
    temporary files) still run and both streams are flushed; only module teardown is skipped.
    In-process callers (tests, CliRunner) use `main` and exit normally. stdout and stderr
    wait for a full pipe even when it is non-blocking (`patient_stdio`).
    """
    patient_stdio.install()
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):  # sys.exit("message"): print it and fail, as Python would
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # CPython's own handler runner; the hooks above still run
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe (camaudit ... | head): the exit code still stands
    os._exit(0 if code is None else int(code))  # type: ignore[call-overload]

"""Command line: wiring only. Each module of this package registers its own commands.

Logic lives in the layers below (engine, identify, db, report); a command parses options,
calls one service function and maps the outcome to an exit code (`camaudit.exitcodes`).
"""

from __future__ import annotations

import atexit
import os
import sys

import click

from camaudit import __version__
from camaudit.cli import capture, ingest, inventory, lab, listen, match, ops, register, reports, scan
from camaudit.cli.common import ExitCodeGroup


@click.group(cls=ExitCodeGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="camaudit")
def main() -> None:
    """Find equipment of flagged vendors (Hikvision, Dahua, Huawei, ZTE, Hytera and their OEMs)
    on networks you name, and track its removal.

    camaudit never picks targets by itself: every address it probes comes from the targets
    you give it, minus your excludes.
    """


for _module in (scan, capture, listen, ingest, match, inventory, register, reports, ops, lab):
    _module.register(main)


def console() -> None:
    """The `camaudit` executable: run the CLI, then exit without tearing down every module.

    Interpreter teardown of what a scan imports (SQLAlchemy, alembic, scapy) took 0.2-0.3 s
    after the command had finished, about a tenth of a /24 audit. Exit handlers (logging,
    temporary files) still run and both streams are flushed; only module teardown is skipped.
    In-process callers (tests, CliRunner) use `main` and exit normally.
    """
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

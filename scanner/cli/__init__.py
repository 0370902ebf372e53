"""Command line: wiring only. Each module of this package registers its own commands.

Logic lives in the layers below (engine, identify, db, report); a command parses options,
calls one service function and maps the outcome to an exit code (`scanner.exitcodes`).
"""

from __future__ import annotations

import click

from scanner import __version__
from scanner.cli import inventory, lab, match, ops, reports, scan
from scanner.cli.ops import ExitCodeGroup


@click.group(cls=ExitCodeGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="camaudit")
def main() -> None:
    """Find equipment of flagged vendors (Hikvision, Dahua, Huawei, ZTE, Hytera and their OEMs)
    on networks you name, and track its removal.

    camaudit never picks targets by itself: every address it probes comes from the targets
    you give it, minus your excludes.
    """


for _module in (scan, match, inventory, reports, ops, lab):
    _module.register(main)

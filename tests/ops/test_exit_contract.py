"""The top-level group keeps exit codes meaningful when a command fails unexpectedly."""

from __future__ import annotations

import sys

import click
import pytest
from click.testing import CliRunner

from camaudit.cli import main
from camaudit.cli.common import ExitCodeGroup
from camaudit.exitcodes import ExitCode
from camaudit.runlock import ScanInterrupted


def group_running(body) -> click.Group:
    group = ExitCodeGroup()

    @group.command()
    def cmd() -> None:
        body()

    return group


def boom() -> None:
    raise RuntimeError("disk on fire")


def stopped() -> None:
    raise ScanInterrupted(15)


def bad_usage() -> None:
    raise click.UsageError("say which format")


def flagged() -> None:
    sys.exit(ExitCode.FLAGGED)


@pytest.mark.parametrize("body, code, message", [
    (boom, ExitCode.RUNTIME, "unexpected error: RuntimeError: disk on fire"),
    (stopped, ExitCode.RUNTIME, "interrupted (stopped by SIGTERM)"),
    (bad_usage, ExitCode.USAGE, "say which format"),
    (flagged, ExitCode.FLAGGED, ""),
])
def test_exit_codes_survive_unexpected_failures(body, code: int, message: str) -> None:
    result = CliRunner().invoke(group_running(body), ["cmd"])
    assert result.exit_code == code
    assert message in result.output


def test_camaudit_uses_the_exit_code_group() -> None:
    assert isinstance(main, ExitCodeGroup)

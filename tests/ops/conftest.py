"""Helpers for running camaudit the way cron does: no TTY, stdin closed, a minimal environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def cron_env(home: Path, **extra: str) -> dict[str, str]:
    """What cron gives a job: PATH, HOME and little else (no TERM, no LANG, no XDG_*)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    env.update(extra)
    return env


def camaudit_argv(*args: str) -> list[str]:
    """The installed interpreter running the package: what the `camaudit` script does."""
    return [sys.executable, "-m", "scanner", *args]


@pytest.fixture
def cron(tmp_path: Path):
    """Run camaudit like a cron job; returns CompletedProcess with text stdout/stderr."""
    home = tmp_path / "home"
    home.mkdir()

    def run(*args: str, wrap: tuple[str, ...] = (), timeout: float = 120,
            **env: str) -> subprocess.CompletedProcess[str]:
        """`wrap` prefixes the command (e.g. setpriv, or the lab's `ip netns exec`)."""
        return subprocess.run([*wrap, *camaudit_argv(*args)], env=cron_env(home, **env), cwd=tmp_path,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, check=False)

    run.home = home  # type: ignore[attr-defined]
    return run

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
    return [sys.executable, "-m", "camaudit", *args]


class CronRunner:
    """Runs camaudit like a cron job: minimal env, stdin closed, output captured (no TTY)."""

    def __init__(self, home: Path, cwd: Path, wrap: tuple[str, ...] = ()) -> None:
        self.home, self.cwd, self.wrap = home, cwd, wrap

    def within(self, *wrap: str) -> CronRunner:
        """The same runner with a command prefix (e.g. setpriv, or `ip netns exec NS`)."""
        return CronRunner(self.home, self.cwd, (*self.wrap, *wrap))

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.wrap, *camaudit_argv(*args)], env=cron_env(self.home, **env),
                                cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def __call__(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        proc = self.popen(*args, **env)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture
def cron(tmp_path: Path) -> CronRunner:
    home = tmp_path / "home"
    home.mkdir()
    return CronRunner(home, tmp_path)


@pytest.fixture(scope="module")
def ops_lab():
    """A lab of all shipped personas, named for this test process, removed even on failure.

    Own lab rather than the shared session one: these tests hold scan locks and send SIGTERM
    mid-scan, and must not slow or disturb other areas' tests.
    """
    import atexit
    import os

    if os.geteuid() != 0:
        pytest.skip("lab tests build network namespaces: run as root")
    from camaudit.lab import Lab

    lab = Lab(f"op{os.getpid() % 10**6}")
    atexit.register(lab.down)  # an interrupted pytest run still removes the namespaces
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
        atexit.unregister(lab.down)

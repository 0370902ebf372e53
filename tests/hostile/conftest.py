"""Fixtures of the hostile-network tests (tests import nothing from here: importlib mode).

* `camaudit_in_lab` — runs `camaudit ARGS` the way a user does, inside a lab's scanner
  namespace, and measures the scanner's own peak RSS with wait4 (not pytest's).
* `figures` — appends measured figures to $CAMAUDIT_FIGURES (JSON Lines) when set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_kib: int
    seconds: float


def run_camaudit(lab: Any, *args: str, workdir: Path, timeout: float = 300) -> Run:
    """`camaudit ARGS` inside the lab's scanner namespace; peak RSS of that process from wait4.

    `ip netns exec` execs camaudit in place, so the child's rusage is the scanner's. Output
    goes to files (no pipe to drain while waiting).
    """
    import signal
    import time

    out_path, err_path = workdir / "stdout.txt", workdir / "stderr.txt"
    started = time.monotonic()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(["ip", "netns", "exec", lab.scanner_ns, CAMAUDIT, *args],
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGKILL)
            os.wait4(proc.pid, 0)
            raise TimeoutError(f"camaudit {' '.join(args)} ran longer than {timeout} s")
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(proc.returncode, out_path.read_text(), err_path.read_text(), usage.ru_maxrss,
               time.monotonic() - started)


@pytest.fixture(scope="session")
def camaudit_in_lab() -> Any:
    return run_camaudit


@pytest.fixture(scope="session")
def figures() -> Any:
    def record(test: str, **values: Any) -> None:
        path = os.environ.get("CAMAUDIT_FIGURES")
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"test": test, **values}) + "\n")
    return record

"""Start-up cost of the `camaudit` executable: what every cron run and every `--help` pays.

Measured as the installed console script next to this Python (the same entry point a user
runs), median of many rounds since a single start is a few tens of milliseconds and noisy.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import median_of, run

COMMANDS = {"version": ["--version"], "scan_help": ["scan", "--help"]}
TARGET_S = 0.15


def executable() -> str:
    """The `camaudit` script of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).with_name("camaudit")
    found = str(beside) if beside.exists() else shutil.which("camaudit")
    if not found:
        raise RuntimeError("no camaudit executable beside this Python or on PATH; run `make .venv/.installed`")
    return found


def measure(rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Median wall/CPU of each command over `rounds` starts (after one warm-up)."""
    exe = executable()
    out: dict[str, Any] = {}
    for name, args in COMMANDS.items():
        run([exe, *args])  # warm the page cache and the bytecode cache
        costs = [run([exe, *args]) for _ in range(rounds)]
        out[name] = median_of(costs)
        log(f"  camaudit {' '.join(args):14} {out[name]['wall_s'] * 1000:.0f} ms")
    return out

"""Run one command and measure what it cost: wall seconds, CPU seconds, peak RSS.

CPU comes from `wait4()` on the child, so it covers the command and every descendant it
waited for (nmap's NSE runs in-process; camaudit's `ip` children are waited for) and nothing
else on a shared machine. Peak RSS is the child's own `VmHWM`, sampled every 10 ms while it
runs: `wait4()`'s `ru_maxrss` would not do, because Linux carries the parent's high-water mark
into a forked child across exec (a 1 GB benchmark process made every child "use" 1 GB). Output goes to temporary files, not pipes, so a chatty
command can never block on a full pipe while we wait for it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cost:
    """What one run cost, and what it printed."""

    wall: float
    cpu: float          # user + system seconds of the command and its waited-for descendants
    peak_rss_mib: float
    returncode: int
    stdout: str
    stderr: str


def run(argv: Sequence[str], timeout: float = 3600.0) -> Cost:
    """Run `argv` to completion; kill it (and raise) after `timeout` seconds."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = started + timeout
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, _high_water_kib(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise TimeoutError(f"{argv[0]} … ran longer than {timeout:.0f} s: {' '.join(argv)}")
            time.sleep(0.01)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it, not Popen
        out.seek(0)
        err.seek(0)
        return Cost(wall=wall, cpu=usage.ru_utime + usage.ru_stime, peak_rss_mib=peak_kib / 1024,
                    returncode=proc.returncode, stdout=out.read().decode(errors="replace"),
                    stderr=err.read().decode(errors="replace"))


def _high_water_kib(pid: int) -> int:
    """Peak resident set of a running process so far (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def in_namespace(ns: str, argv: Sequence[str]) -> list[str]:
    """`argv` run inside network namespace `ns` — what `Lab.exec` does, kept as an argv so
    `run` can wait4() the process itself (`ip netns exec` execs the command in place)."""
    return ["ip", "netns", "exec", ns, *argv]


def median_of(costs: Sequence[Cost]) -> dict[str, float]:
    """Median wall, CPU and peak RSS over rounds (robust to one disturbed round)."""
    return {"wall_s": round(statistics.median(c.wall for c in costs), 3),
            "cpu_s": round(statistics.median(c.cpu for c in costs), 3),
            "peak_rss_mib": round(statistics.median(c.peak_rss_mib for c in costs), 1),
            "rounds": len(costs),
            "walls_s": [round(c.wall, 3) for c in costs]}

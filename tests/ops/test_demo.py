"""`camaudit demo` end to end: lab up, scan, findings, HTML report, and nothing left behind."""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="the demo builds network namespaces: needs root")]


def namespaces_of(lab_name: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(f"ca-{lab_name}-")]


def processes_in(lab_name: str) -> list[str]:
    """Processes still belonging to this lab: its fleet server or anything run in its namespaces."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if ("camaudit.lab.server" in argv and lab_name in argv) or any(a.startswith(f"ca-{lab_name}-") for a in argv):
            found.append(f"{pid}: {' '.join(argv)}")
    return found


def assert_one_remediation_row_per_flagged_device(path: Path, lab_name: str) -> None:
    """The demo's remediation CSV: exactly the devices the lab's truth flags, one row each,
    with the policies that flag it in one cell and its tier."""
    from camaudit.lab.control import select_personas
    from camaudit.lab.topology import plan_devices

    truth = [d.truth() for d in plan_devices(lab_name, select_personas(None)).devices]
    flagged = {d["ip"] for d in truth if d["flagged"]}
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"), newline="")))
    assert len(rows) == len(flagged) and {r["IP"] for r in rows} == flagged
    assert all(r["Policies"] and r["Tier"] in ("confirmed", "probable", "possible") for r in rows)
    assert any(", " in r["Policies"] for r in rows)   # devices flagged by several policies: one row


def test_demo_prints_findings_writes_report_and_leaves_nothing_running(cron, tmp_path: Path) -> None:
    name = f"dm{os.getpid() % 10**6}"
    out = tmp_path / "demo-out"
    try:
        result = cron("demo", "--out", str(out), "--name", name, timeout=600)
        assert result.returncode == 0, result.stderr
        report = out / "report.html"
        assert f"HTML report: {report}" in result.stdout
        assert report.stat().st_size > 1000 and "<html" in report.read_text().lower()
        lines = result.stdout.splitlines()
        assert any("198.18.0." in line and "Hikvision" in line for line in lines), result.stdout
        assert "flagged device(s) among" in result.stdout
        assert_one_remediation_row_per_flagged_device(out / "remediation.csv", name)
        assert f"tearing the lab '{name}' down" in result.stderr
    finally:
        leftovers = namespaces_of(name)
        if leftovers:
            from camaudit.lab import Lab

            Lab(name).down()
    assert leftovers == [], f"demo left namespaces behind: {leftovers}"
    assert processes_in(name) == []


def test_demo_interrupted_by_sigterm_still_removes_the_lab(tmp_path: Path) -> None:
    import sys

    name = f"dt{os.getpid() % 10**6}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "camaudit", "demo", "--out", str(tmp_path / "o"),
                             "--name", name], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not namespaces_of(name) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert namespaces_of(name), "the demo never started building its lab"
        time.sleep(0.5)  # somewhere inside lab up / the scan
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 3, stderr
        assert "interrupted; the lab was removed" in stderr
        assert namespaces_of(name) == []
        assert processes_in(name) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if namespaces_of(name):
            from camaudit.lab import Lab

            Lab(name).down()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv to drop capabilities")
def test_demo_without_privileges_explains_and_leaves_nothing(cron, tmp_path: Path) -> None:
    name = f"dp{os.getpid() % 10**6}"
    drop_all = ("setpriv", "--bounding-set=-all", "--inh-caps=-all")
    result = cron.within(*drop_all)("demo", "--out", str(tmp_path / "o"), "--name", name, timeout=120)
    assert result.returncode == 3
    assert "the lab could not be built" in result.stderr and "the demo needs root" in result.stderr
    assert "Traceback" not in result.stderr
    assert namespaces_of(name) == [] and processes_in(name) == []


def test_bad_lab_name_is_a_usage_error(cron) -> None:
    result = cron("demo", "--name", "Not-Valid")
    assert result.returncode == 2 and "lab name 'Not-Valid'" in result.stderr

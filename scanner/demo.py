"""`camaudit demo` (what `make demo` runs): the whole pipeline on the simulated lab, then gone.

Lab up → the audit (`python -m camaudit.audit`) run *inside* the lab's scanner namespace (no
default route, so no packet can leave the lab) → findings printed (IP, MAC, vendor, evidence)
→ HTML report written and its path printed → lab down. The lab is removed on every way out: success, an
error, Ctrl-C or SIGTERM (`stop_signals` turns both into an exception, `finally` tears
down), and a demo lab left over by a `kill -9` is removed at the next start. The lab has its
own reserved name, so the demo never touches a lab the user brought up themselves.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from camaudit.report.flagged import DETAILED, flagged_table, from_findings
from camaudit.runlock import stop_signals

DEMO_LAB = "cademo"  # reserved for the demo: a leftover of this name is the demo's own
DEMO_SITE = "demo-lab"
SCAN_TIMEOUT = 600.0


class DemoError(RuntimeError):
    """The demo could not run; the message says what failed and what to do."""


@dataclass(frozen=True)
class DemoResult:
    devices: int          # devices the lab simulated
    flagged_assets: int   # assets with findings after the scan
    report: Path
    scan_exit: int
    remediation: Path     # the remediation list as CSV: one row per flagged device


def run_demo(out_dir: Path, console: Console, progress: Callable[[str], None],
             lab_name: str = DEMO_LAB) -> DemoResult:
    """Run the demo; findings go to `console`, step messages to `progress`. Raises DemoError."""
    from camaudit.lab import Lab, LabError
    from camaudit.lab.netns import NetnsError
    from camaudit.lab.topology import LOCAL_NET, ROUTED_NET

    lab = Lab(lab_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "demo.sqlite3"
    for stale in (db_path, *(db_path.with_name(db_path.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)  # a fresh inventory: the demo shows first sightings
    url = f"sqlite:///{db_path.resolve()}"
    with stop_signals():
        try:
            status = lab.status()
            if "pid" in status or status.get("leftover_namespaces"):
                progress(f"removing the leftover demo lab {lab_name!r}")
                lab.down()
            progress("bringing the simulated lab up (network namespaces, 198.18.0.0/15 only)")
            lab.up()
            devices = len(lab.truth())
            progress(f"lab up: {devices} simulated devices; scanning {LOCAL_NET} and {ROUTED_NET} "
                     f"from inside the lab's scanner namespace")
            scan_exit = _scan(lab, [str(LOCAL_NET), str(ROUTED_NET)], url)
        except (LabError, NetnsError) as exc:
            raise DemoError(f"the lab could not be built: {exc}; the demo needs root "
                            "(network namespaces: CAP_SYS_ADMIN, CAP_NET_ADMIN)") from None
        finally:
            progress(f"tearing the lab {lab_name!r} down")
            lab.down()
    return _show(url, out_dir, console, devices, scan_exit)


def _scan(lab: Any, targets: list[str], url: str) -> int:
    """Run the audit in its own process inside the lab's scanner namespace; 0 clean, 1 flagged.

    Not in this process: `setns` moves only the calling thread, threads made before it (a
    resolver pool, the event loop's helpers) would stay on the host's network, and a forked
    child of this process would inherit its lab-teardown `finally`. `ip netns exec` places the
    whole audit process in the namespace before its first instruction (docs/architecture.md).
    """
    from camaudit.lab.topology import LAB_SNMP_COMMUNITY

    # the lab's agents answer one community; a real audit configures its own (never guessed)
    settings = {"targets": targets, "db": url, "site": DEMO_SITE, "snmp.communities": [LAB_SNMP_COMMUNITY]}
    result = lab.exec([sys.executable, "-m", "camaudit.audit"], input=json.dumps(settings),
                      capture_output=True, text=True, timeout=SCAN_TIMEOUT, check=False)
    if result.returncode not in (0, 1):  # 0 clean, 1 flagged: both are a completed scan
        tail = "\n".join(result.stderr.strip().splitlines()[-10:])
        raise DemoError(f"the scan failed (exit {result.returncode}):\n{tail}")
    return result.returncode


def _show(url: str, out_dir: Path, console: Console, devices: int, scan_exit: int) -> DemoResult:
    from camaudit.db.store import Store
    from camaudit.report.service import export_findings

    report, remediation = out_dir / "report.html", out_dir / "remediation.csv"
    with Store(url) as store:
        rows = store.finding_rows()
        export_findings(store, "html", report, title="camaudit demo: simulated lab")
        export_findings(store, "csv", remediation)
    assets = findings_table(rows)
    console.print(assets)
    return DemoResult(devices=devices, flagged_assets=assets.row_count, report=report.resolve(),
                      scan_exit=scan_exit, remediation=remediation.resolve())


def findings_table(rows: list[dict[str, Any]]) -> Table:
    """One line per flagged device: where it is, whose it is, which policies, and why we think so."""
    return flagged_table(from_findings(rows), "flagged devices found in the lab", DETAILED, blank="-", fold=True)

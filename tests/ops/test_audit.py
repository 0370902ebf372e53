"""The audit library without the CLI: the row it leaves, what it stores, reports, the runner.

No packets here: the recording half takes observations made in the test, the way an import
of observations from a file would; the engine half is exercised by the lab tests
(tests/engine/test_lab_cli.py, tests/ops/test_demo.py).
"""

from __future__ import annotations

import ast
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from camaudit.db.store import Store
from camaudit.audit import record_observations, recorded_scan
from camaudit.config import load_config
from camaudit.observation import Observation
from camaudit.policy import load_policies
from camaudit.runlock import ScanInterrupted

REPO = Path(__file__).resolve().parents[2]
HIK_MAC = "c0:56:e3:10:00:10"
COVERED = ["198.18.0.0/24"]


def observations() -> list[Observation]:
    return [Observation(source="arp", ip="198.18.0.10", mac=HIK_MAC),
            Observation(source="http", ip="198.18.0.10", mac=HIK_MAC, port=80,
                        data={"path": "/", "status": 200, "headers": {"Server": "DNVRS-Webs"}}),
            Observation(source="arp", ip="198.18.0.11", mac="00:11:22:33:44:55")]


def statuses(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [status for (status,) in conn.execute("SELECT status FROM scans ORDER BY id")]


def test_observations_from_elsewhere_are_identified_stored_and_reported(tmp_path: Path) -> None:
    db, html = tmp_path / "inv.db", tmp_path / "out" / "report.html"
    config = load_config({"db": f"sqlite:///{db}", "site": "hq", "report.html": str(html)},
                         config_path="/dev/null", env={})
    policies = load_policies()
    warned: list[str] = []
    with Store(config.db_url()) as store:
        with recorded_scan(store, config, COVERED, policies) as rec:
            assert statuses(db) == ["running"]  # the row exists before any observation is taken
            found = record_observations(store, rec.scan_id, iter(observations()), policies,
                                        covered=COVERED, warn=warned.extend)
        assert [(i.ip, i.flagged) for i in found] == [("198.18.0.10", True), ("198.18.0.11", False)]
        assert rec.open_flagged == 1  # one flagged asset, with a finding under each policy
        assert {r["ip"] for r in store.finding_rows(site="hq")} == {"198.18.0.10"}
        assert {a["ip"] for a in store.assets()} == {"198.18.0.10", "198.18.0.11"}
    assert statuses(db) == ["complete"] and warned == []
    assert rec.reports == [html] and "198.18.0.10" in html.read_text()


@pytest.mark.parametrize(("stop", "status"), [(ScanInterrupted(15), "interrupted"), (OSError(5, "I/O"), "failed")])
def test_the_row_is_closed_on_every_way_out_and_no_report_is_written(tmp_path: Path, stop: BaseException,
                                                                      status: str) -> None:
    db, html = tmp_path / "inv.db", tmp_path / "report.html"
    config = load_config({"db": f"sqlite:///{db}", "report.html": str(html)}, config_path="/dev/null", env={})
    with Store(config.db_url()) as store, pytest.raises(type(stop)):
        with recorded_scan(store, config, COVERED, load_policies()):
            raise stop
    assert statuses(db) == [status] and not html.exists()


def runner(stdin: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "camaudit.audit"], input=stdin, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})


@pytest.mark.parametrize(("stdin", "says"), [("not json", "Expecting value"), ("[1]", "one JSON object"),
                                             ('{"targets": ["cameras.example"]}', "cameras.example"),
                                             ('{"targets": ["198.18.0.1"], "rate": "fast"}', "rate")])
def test_the_runner_refuses_bad_settings_in_one_line_before_any_packet(tmp_path: Path, stdin: str,
                                                                       says: str) -> None:
    result = runner(stdin, tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []  # no inventory, no lock file


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_cli_modules_import_only_the_shared_support_module_and_bench_no_cli() -> None:
    def cli_imports(path: Path) -> set[str]:
        return {m for m in imports_of(path) if m.startswith("camaudit.cli")}

    for path in (REPO / "scanner" / "cli").glob("*.py"):
        if path.name not in ("__init__.py", "common.py"):  # the package wires every module
            assert cli_imports(path) <= {"camaudit.cli.common"} | {
                m for m in cli_imports(path) if m.startswith("camaudit.cli.common.")}, path.name
    for path in [*(REPO / "bench").glob("*.py"), *(REPO / "scanner").rglob("*.py")]:
        if "cli" not in path.parts and path != REPO / "scanner" / "__main__.py":  # `python -m camaudit`
            assert cli_imports(path) == set(), path

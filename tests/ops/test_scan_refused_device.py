"""`camaudit scan` when the inventory refuses one device's text: the device is named in a
scan warning, every other device is stored, and the scan completes.

Network text reaching the store is made valid before it gets there, so the refused text is
put in here: a `sitecustomize` on the scan's PYTHONPATH gives one identification of the
scan's matcher a lone surrogate as its model (text no UTF-8 database can hold). The scan
itself is real, inside the lab's scanner namespace.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

HOOK = '''
import camaudit.identify as _identify

_real = _identify.Matcher.identifications


def _one_refused(self):
    found = list(_real(self))
    with_ip = sorted((i for i in found if i.ip), key=lambda i: i.ip)
    if with_ip:
        with_ip[-1].model = "DS-\\ud800"
    return found


_identify.Matcher.identifications = _one_refused
'''


def test_a_device_the_inventory_refuses_is_a_warning_not_a_failed_scan(cron, ops_lab, tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    db = tmp_path / "inv.db"
    in_lab = cron.within(shutil.which("ip") or "ip", "netns", "exec", ops_lab.scanner_ns)
    result = in_lab("scan", "198.18.0.0/24", "--json", "--db", f"sqlite:///{db}", PYTHONPATH=str(hook))
    assert result.returncode in (0, 1), result.stderr
    summary = json.loads(result.stdout)
    [victim] = [d for d in summary["devices"] if d["model"] == "DS-\ud800"]
    refused = [w for w in summary["warnings"] if "not stored in the inventory" in w]
    assert len(refused) == 1 and f"device {victim['ip']} " in refused[0], summary["warnings"]
    assert refused[0] in result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM scans").fetchall() == [("complete",)]
        stored = {ip for (ip,) in conn.execute("SELECT ip FROM assets")}
    expected = {d["ip"] for d in summary["devices"] if d["ip"] or d["mac"]} - {victim["ip"]}
    assert victim["ip"] not in stored and stored == expected

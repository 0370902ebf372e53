"""`camaudit ingest` of a lab scan's observation file stores what a stored scan of the lab stores."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from camaudit.db.store import Store

pytestmark = pytest.mark.lab

LOCAL, ROUTED = "198.18.0.0/24", "198.18.1.0/24"
CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))


def camaudit(lab, *args: str):
    return lab.exec([CAMAUDIT, *args, "--config", "/dev/null"], capture_output=True, text=True, timeout=300,
                    env=dict(os.environ))


def inventory(url: str) -> tuple[set, set]:
    """Assets (identity, vendor, model, flagged) and findings (asset identity, policy, status)."""
    with Store(url) as store, store.db.read() as conn:
        assets = set(conn.exec_driver_sql("SELECT identity, vendor, model, flagged FROM assets"))
        findings = set(conn.exec_driver_sql("SELECT a.identity, f.policy_id, f.status FROM findings f "
                                            "JOIN assets a ON a.id = f.asset_id"))
    return assets, findings


def test_an_ingested_observation_file_equals_a_stored_scan(elab, tmp_path: Path) -> None:
    obs, stored, ingested = tmp_path / "obs.jsonl", tmp_path / "stored.db", tmp_path / "ingested.db"
    r = camaudit(elab, "scan", LOCAL, ROUTED, "--no-store", "--quiet", "--observations-out", str(obs))
    assert r.returncode == 1, r.stderr
    r = camaudit(elab, "scan", LOCAL, ROUTED, "--site", "x", "--quiet", "--db", f"sqlite:///{stored}")
    assert r.returncode == 1, r.stderr
    r = camaudit(elab, "ingest", str(obs), "--site", "x", "--db", f"sqlite:///{ingested}")
    assert r.returncode == 1, r.stderr

    assert inventory(f"sqlite:///{ingested}") == inventory(f"sqlite:///{stored}")
    assets, findings = inventory(f"sqlite:///{ingested}")
    assert {a[0] for a in assets if a[3]} and findings

    r = camaudit(elab, "ingest", str(obs), "--site", "x", "--db", f"sqlite:///{ingested}")
    assert r.returncode == 0 and "already ingested as scan #1" in r.stderr
    with Store(f"sqlite:///{ingested}") as store:
        assert len(store.scans()) == 1
    assert inventory(f"sqlite:///{ingested}") == (assets, findings)

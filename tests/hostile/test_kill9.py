"""Crash safety: `camaudit scan` killed with SIGKILL at random moments, 20 times over.

A cron job can die at any instant (OOM killer, a reboot, kill -9 from an impatient admin),
including in the middle of writing the inventory. After every kill the SQLite inventory must
pass `PRAGMA integrity_check`, everything an earlier complete scan recorded must be exactly as
it was, and the next scan must run (no stale lock, no half-migrated schema) and complete.

Even rounds kill at a moment drawn uniformly over the length of a full scan (measured first):
start-up, discovery, probing. The scan's row is opened before any packet;
its results are written at the end and take a small part of a scan, so odd rounds poll the
inventory until the scan's first observations appear (the writes have begun) and kill 0-10 ms
later. At least one kill must land mid-write.
The seed is printed on failure; the figures say how many kills landed mid-write.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
ROUNDS = int(os.environ.get("CAMAUDIT_KILL_ROUNDS", "20"))
DEVICE = "hikvision-camera"   # one flagged camera on three ports keeps a round near a second
PORTS = "80,554,8000"


@pytest.fixture(scope="module")
def small_lab() -> Any:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces)")
    from camaudit.lab import Lab

    lab = Lab(f"kl{os.getpid() % 10**6}")
    try:
        lab.up(only=[DEVICE])
        yield lab
    finally:
        lab.down()


def snapshot(db: Path, scan_id: int, last_event: int) -> dict[str, Any]:
    """Everything one scan wrote that later scans must never change (events are append-only)."""
    with sqlite3.connect(db) as conn:
        return {
            "scan": conn.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchall(),
            "observations": conn.execute("SELECT * FROM observations WHERE scan_id = ? ORDER BY id",
                                         (scan_id,)).fetchall(),
            "sightings": conn.execute("SELECT * FROM sightings WHERE scan_id = ? ORDER BY id",
                                      (scan_id,)).fetchall(),
            "events": conn.execute("SELECT * FROM finding_events WHERE id <= ? ORDER BY id",
                                   (last_event,)).fetchall(),
        }


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_sigkill_at_random_points_never_corrupts_the_inventory(small_lab, camaudit_in_lab, figures,
                                                                tmp_path: Path) -> None:
    ips = [d["ip"] for d in small_lab.truth()]
    db = tmp_path / "inventory.sqlite3"
    args = ("scan", *ips, "--ports", PORTS, "--db", f"sqlite:///{db}", "--quiet")
    first = camaudit_in_lab(small_lab, *args, workdir=tmp_path)
    assert first.returncode == 1, first.stderr    # the first, complete scan flags the camera
    timed = camaudit_in_lab(small_lab, *args, workdir=tmp_path)   # without the schema creation
    assert timed.returncode == 1, timed.stderr
    full = timed.seconds
    with sqlite3.connect(db) as conn:
        last_event = conn.execute("SELECT COALESCE(MAX(id), 0) FROM finding_events").fetchone()[0]
    before = snapshot(db, 1, last_event)
    assert before["scan"] and before["observations"] and before["sightings"] and before["events"]

    argv = ["ip", "netns", "exec", small_lab.scanner_ns, CAMAUDIT, *args]
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    killed_in_store = 0
    for round_no in range(ROUNDS):
        scans_before = _scan_count(db)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        if round_no % 2:
            # odd rounds aim at the store writes: the scan's observations appear when they start
            _wait_for_writes(db, scans_before, full * 3)
            time.sleep(rng.uniform(0, 0.01))
        else:
            time.sleep(rng.uniform(0.05, full * 1.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        where = f"round {round_no} (seed {seed})"
        assert integrity(db) == "ok", where
        assert snapshot(db, 1, last_event) == before, f"{where}: the first scan's records changed"
        killed_in_store += _killed_mid_write(db, scans_before)
    after_kills = camaudit_in_lab(small_lab, *args, workdir=tmp_path)
    assert after_kills.returncode == 1, f"the scan after the kills failed (seed {seed}): {after_kills.stderr}"
    with sqlite3.connect(db) as conn:
        last = conn.execute("SELECT status, device_count FROM scans ORDER BY id DESC LIMIT 1").fetchone()
        left_running = conn.execute("SELECT COUNT(*) FROM scans WHERE status = 'running'").fetchone()[0]
    assert last == ("complete", len(ips))
    assert killed_in_store, f"no kill landed during the store writes in {ROUNDS} rounds (seed {seed})"
    assert integrity(db) == "ok" and snapshot(db, 1, last_event) == before
    figures("kill9", rounds=ROUNDS, killed_during_store=killed_in_store, full_scan_seconds=round(full, 2),
            scans_left_running=left_running)


def _wait_for_writes(db: Path, older_than: int, timeout: float) -> None:
    """Poll (every millisecond, one read-only connection) until a new scan has stored results."""
    deadline = time.monotonic() + timeout
    while not db.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        while time.monotonic() < deadline and not _writing(conn, older_than):
            time.sleep(0.001)
    finally:
        conn.close()


def _writing(conn: sqlite3.Connection, older_than: int) -> bool:
    return conn.execute("SELECT 1 FROM observations WHERE scan_id > ? LIMIT 1", (older_than,)).fetchone() is not None


def _killed_mid_write(db: Path, older_than: int) -> bool:
    """The newest scan stored some results but did not complete: the kill hit the writes."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT status FROM scans WHERE id > ? ORDER BY id DESC LIMIT 1", (older_than,)).fetchone()
        return row is not None and row[0] != "complete" and _writing(conn, older_than)


def _scan_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM scans").fetchone()[0]

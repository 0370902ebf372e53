"""kill -9 of a scan writing the inventory: earlier scans intact, database sound, next scan works."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from camaudit.db.store import Store

# A scan of 3,000 devices with observations, over and over until killed. It only prints
# "ready" once the schema exists, so the kill lands in the writes, not in interpreter start-up.
WRITER = """
import sys
from types import SimpleNamespace as NS
from camaudit.db.store import Store
from camaudit.observation import Observation
store = Store(sys.argv[1])
print("ready", flush=True)
devices = [NS(ip=f"198.19.{i // 250}.{i % 250 + 1}", mac=f"c0:56:e3:20:{i >> 8:02x}:{i & 255:02x}",
              vendor="Hikvision", brand=None, model=None, firmware=None, serial=None, device_type=None,
              flagged=True, policies=["us-ndaa-889"], confidence=0.9, evidence=[]) for i in range(3000)]
while True:
    sid = store.begin_scan(["198.19.0.0/16"], "crash", ["us-ndaa-889"], "t", None)
    store.add_observations(sid, [Observation(source="arp", ip=d.ip, mac=d.mac) for d in devices])
    store.record_identifications(sid, devices, ["198.19.0.0/16"])
    store.finish_scan(sid)
"""


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_mid_scan_leaves_a_sound_inventory(db_url, flagged_hikvision, run_scan, seed):
    store = Store(db_url)
    first = run_scan(store, [flagged_hikvision(ip="198.18.0.10", mac="c0:56:e3:00:00:10")])
    proc = subprocess.Popen([sys.executable, "-c", WRITER, db_url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(random.Random(seed).uniform(0.05, 1.5))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    if db_url.startswith("sqlite"):
        con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        con.close()
    after = Store(db_url)
    assert [r["last_scan_id"] for r in after.finding_rows(site="hq")] == [first]
    assert after.scans(site="hq")[0]["status"] == "complete"
    killed = after.scans(site="crash")
    assert killed and all(s["status"] in ("running", "complete") for s in killed)
    identities = [a["identity"] for a in after.assets()]
    assert len(identities) == len(set(identities))
    nxt = run_scan(after, [flagged_hikvision(ip="198.18.0.11", mac="c0:56:e3:00:00:10")])
    assert after.finding_rows(site="hq")[0]["last_scan_id"] == nxt
    after.close()
    store.close()

"""`camaudit import pcap` of a capture taken while a scan ran against the lab flags the same
devices as the scan: the scan's own requests and the devices' answers are in the capture.

The capture is also converted to pcapng (written here from the pcap's records) and gzip, which
must give the same observations, and the imported file goes into an inventory through
`camaudit ingest`.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from camaudit.db.store import Store
from camaudit.passive.capture_file import open_capture

pytestmark = pytest.mark.lab

LOCAL, ROUTED = "198.18.0.0/24", "198.18.1.0/24"
CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))


def camaudit(lab, *args: str) -> subprocess.CompletedProcess:
    return lab.exec([CAMAUDIT, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


def flagged(lab, observations: Path) -> dict[str, str]:
    """Device (MAC, else IP) -> vendor of every flagged identification `camaudit match` makes."""
    r = camaudit(lab, "match", str(observations))
    assert r.returncode in (0, 1), r.stderr
    return {d["mac"] or d["ip"]: d["vendor"] for d in map(json.loads, r.stdout.splitlines()) if d["flagged"]}


def without_tool(path: Path) -> list[dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return sorted((json.dumps({k: v for k, v in line.items() if k != "tool"}, sort_keys=True) for line in lines))


def test_import_of_a_scan_capture_flags_what_the_scan_flagged(lab, tmp_path: Path, pcapng) -> None:
    pcap, scanned = tmp_path / "scan.pcap", tmp_path / "scan.jsonl"
    tcpdump = subprocess.Popen(["ip", "netns", "exec", lab.scanner_ns, "tcpdump", "-i", lab.scanner_iface, "-n", "-U",
                                "-Z", "root", "-s", "0", "-w", str(pcap)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert tcpdump.stderr is not None and "listening on" in tcpdump.stderr.readline().decode()
        r = camaudit(lab, "scan", LOCAL, ROUTED, "--no-store", "--quiet", "--observations-out", str(scanned),
                     "--config", "/dev/null")
        assert r.returncode == 1, r.stderr
        time.sleep(0.3)   # late answers reach the file (-U writes each packet)
    finally:
        tcpdump.terminate()
        tcpdump.wait(timeout=10)
        tcpdump.stderr.close()

    imported = tmp_path / "import.jsonl"
    r = camaudit(lab, "import", "pcap", str(pcap), "-o", str(imported))
    assert r.returncode == 0, r.stderr
    expected = flagged(lab, scanned)
    assert expected, "the lab scan flags devices"
    assert flagged(lab, imported) == expected

    # the same capture as pcapng and gzip (told by content: the names say nothing)
    raw_file, cap = open_capture(pcap)
    with raw_file:
        records = [(ts, frame) for ts, _, frame in cap.records()]
    (tmp_path / "scan.ng").write_bytes(pcapng(records))
    (tmp_path / "scan.z").write_bytes(gzip.compress(pcap.read_bytes()))
    for variant in ("scan.ng", "scan.z"):
        out = tmp_path / f"{variant}.jsonl"
        r = camaudit(lab, "import", "pcap", str(tmp_path / variant), "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert without_tool(out) == without_tool(imported), variant

    db = f"sqlite:///{tmp_path / 'inventory.db'}"
    r = camaudit(lab, "ingest", str(imported), "--site", "lab", "--db", db)
    assert r.returncode == 1, r.stderr
    with Store(db) as store, store.db.read() as conn:
        stored = {row[0].split(":", 1)[1] for row in conn.exec_driver_sql("SELECT identity FROM assets WHERE flagged")}
    assert set(expected) <= stored   # identities are "mac:<mac>" or "ip:<ip>"

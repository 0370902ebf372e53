"""`camaudit import pcap` throughput: packets/s and peak memory on a large capture of lab traffic.

The capture is real lab traffic: tcpdump on the scanner's link while a scan of the lab runs
(its requests and the devices' answers: ARP, TCP handshakes and banners, SADP/DHIP/WS-Discovery/
SSDP/mDNS). Its records are then replicated, timestamps shifted, to `--packets` packets, so the
mix stays that of a real scan. Target: >= 200,000 packets/s on the 2-CPU bench machine.

Usage: python bench/capture_import.py [--packets 2000000] [--json]  (root: it builds a lab)
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import run  # noqa: E402
from camaudit.passive.capture_file import open_capture  # noqa: E402

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
TARGET_PACKETS_PER_S = 200_000


def lab_capture(path: Path) -> None:
    """tcpdump on the scanner's lab link while a scan of the whole lab runs."""
    from camaudit.lab.control import Lab

    lab = Lab(f"bci{os.getpid() % 100000}")
    try:
        lab.up()
        tcpdump = subprocess.Popen(["ip", "netns", "exec", lab.scanner_ns, "tcpdump", "-i", lab.scanner_iface, "-n",
                                    "-U", "-Z", "root", "-s", "0", "-w", str(path)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert tcpdump.stderr is not None
        tcpdump.stderr.readline()   # "listening on …": armed
        lab.exec([CAMAUDIT, "scan", "198.18.0.0/24", "198.18.1.0/24", "--no-store", "--quiet", "--config",
                  "/dev/null", "--observations-out", "/dev/null"], capture_output=True, timeout=600)
        time.sleep(0.3)
        tcpdump.terminate()
        tcpdump.wait(timeout=10)
        tcpdump.stderr.close()
    finally:
        lab.down()


def replicate(source: Path, target: Path, packets: int) -> tuple[int, int]:
    """Write `packets` records of `source` (repeated, each copy an hour later) as a pcap;
    (packets written, packets in the source)."""
    raw_file, cap = open_capture(source)
    with raw_file:
        records = [(ts, frame) for ts, _, frame in cap.records()]
    written = 0
    with target.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        copy = 0
        while written < packets:
            for ts, frame in records[:packets - written]:
                when = ts + 3600 * copy
                out.write(struct.pack("<IIII", int(when), int(when % 1 * 1e6), len(frame), len(frame)) + frame)
            written += min(len(records), packets - written)
            copy += 1
    return written, len(records)


def measure(packets: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ca-bench-pcap-") as tmp:
        small, big = Path(tmp) / "scan.pcap", Path(tmp) / "big.pcap"
        lab_capture(small)
        n, source_packets = replicate(small, big, packets)
        cost = run([CAMAUDIT, "import", "pcap", str(big), "-o", "/dev/null"])
        if cost.returncode:
            raise RuntimeError(f"import pcap failed: {cost.stderr.strip()[-300:]}")
        return {"packets": n, "capture_mib": round(big.stat().st_size / 2**20, 1), "wall_s": round(cost.wall, 2),
                "cpu_s": round(cost.cpu, 2), "packets_per_s": int(n / cost.wall), "peak_rss_mib": round(cost.peak_rss_mib, 1),
                "source_packets": source_packets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=2_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = measure(args.packets)
    print(json.dumps(out) if args.json else
          f"{out['packets']:,} packets in {out['wall_s']} s: {out['packets_per_s']:,} packets/s, "
          f"peak RSS {out['peak_rss_mib']} MiB (target >= {TARGET_PACKETS_PER_S:,}/s)")


if __name__ == "__main__":
    main()

"""Matcher throughput: observations per second through identify, on synthetic observations.

Target: >= 50,000 observations/s, and re-matching 1M stored observations in
<= 60 s. Two numbers are printed:

* `match`: Observation objects -> Matcher.add -> identifications (what `rematch` and the
  scan engine pay), objects built outside the timed section in chunks;
* `jsonl`: a JSON Lines file -> read_jsonl -> Matcher -> identifications as JSON (what
  `camaudit match FILE` pays).

The observation mix mimics a camera LAN: per device one ARP line, HTTP banner and vendor-path
answers, RTSP, TLS, ONVIF, SADP or DHIP, with flagged, relabelled, decoy and unknown devices.
Usage: python bench/match_throughput.py [--observations 1000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from camaudit.match_stream import collector_paused, write_identifications
from camaudit.fingerprints.loader import load_fingerprints
from camaudit.identify import Matcher
from camaudit.observation import Observation, read_jsonl
from camaudit.policy import load_policies

HIK_LOGIN = ('<html><head><script src="../script/inc.js"></script></head><body>' + "x" * 2000 + "</body></html>")
DAHUA_LOGIN = ("<html><head><title>WEB SERVICE</title></head><body><div class=\"ui-dialog-content\">"
               "<input id=\"t_username\"/></div>" + "y" * 3000 + "<!-- @WebVersion@ --></body></html>")
GENERIC_PAGE = "<html><head><title>Login</title></head><body>" + "z" * 4000 + "</body></html>"

# (source, port, data) per device kind; MAC prefixes pick the OUI path too.
KINDS: list[tuple[str, list[tuple[str, int | None, dict[str, Any]]]]] = [
    ("c0:56:e3", [  # Hikvision camera
        ("http", 80, {"path": "/", "status": 200, "headers": {"Server": "App-webs/", "Content-Type": "text/html"},
                      "title": "", "body": '<script>window.location.href = "/doc/page/login.asp"</script>'}),
        ("http", 80, {"path": "/doc/page/login.asp", "status": 200, "headers": {"Server": "App-webs/"}, "body": HIK_LOGIN}),
        ("http", 80, {"path": "/ISAPI/Security/userCheck", "status": 401,
                      "headers": {"Server": "App-webs/", "WWW-Authenticate": 'Digest realm="IP Camera(G5821)"'},
                      "body": "<userCheck><statusValue>401</statusValue></userCheck>"}),
        ("rtsp", 554, {"method": "DESCRIBE", "status": 401, "headers": {"WWW-Authenticate": 'Digest realm="Hikvision"'}}),
        ("banner", 8000, {"probe": "null", "hex": "000000100000001e0000001e00000000"}),
        ("sadp", 37020, {"fields": {"DeviceType": "138753", "DeviceDescription": "DS-2CD2043G2-I",
                                    "DeviceSN": "DS-2CD2043G2-I20220315AAWRJ12345678",
                                    "SoftwareVersion": "V5.7.3build 220112", "OEMInfo": "N/A"}}),
    ]),
    ("74:c9:29", [  # Dahua camera
        ("http", 80, {"path": "/", "status": 200, "headers": {"P3P": "CP=CAO PSA OUR"}, "title": "WEB SERVICE",
                      "body": DAHUA_LOGIN}),
        ("http", 80, {"path": "/RPC2_Login", "status": 200, "method": "POST",
                      "body": '{"params":{"encryption":"Default","realm":"Login to 5J01F2APAZ4E1B7"}}'}),
        ("tls", 443, {"subject": "CN=198.18.0.20",
                      "issuer": "C=CN,ST=Zhejiang,L=Hangzhou,O=Zhejiang Dahua Technology Co.\\,Ltd.,CN=Dahua Device NVR CA"}),
        ("rtsp", 554, {"method": "OPTIONS", "status": 200, "headers": {"Server": "Dahua Rtsp Server"}}),
        ("dhip", 37810, {"fields": {"DeviceType": "IPC-HFW2431S-S-S2", "SerialNo": "5J01F2APAZ4E1B7",
                                    "Vendor": "Dahua", "Version": "2.800.0000000.25.R"}}),
        ("onvif", 3702, {"types": ["dn:NetworkVideoTransmitter", "tds:Device"],
                         "scopes": ["onvif://www.onvif.org/name/Dahua", "onvif://www.onvif.org/hardware/IPC-HFW2431S-S-S2",
                                    "onvif://www.onvif.org/type/Network_Video_Transmitter"]}),
    ]),
    ("ac:cc:8e", [  # Axis decoy
        ("http", 80, {"path": "/", "status": 401, "headers": {"WWW-Authenticate": 'Digest realm="AXIS_ACCC8E000001"'},
                      "body": GENERIC_PAGE}),
        ("onvif", 80, {"device_info": {"manufacturer": "AXIS", "model": "P1375", "firmware": "10.12.1", "serial": "ACCC8E000001"}}),
        ("rtsp", 554, {"method": "OPTIONS", "status": 200, "headers": {"Server": "GStreamer RTSP server"}}),
    ]),
    ("00:11:22", [  # unknown IoT with a GoAhead server
        ("http", 80, {"path": "/", "status": 200, "headers": {"Server": "GoAhead-Webs"}, "title": "Login", "body": GENERIC_PAGE}),
        ("http", 80, {"path": "/doc/page/login.asp", "status": 404, "headers": {"Server": "GoAhead-Webs"}, "body": "nf"}),
    ]),
]


def device_templates() -> Iterator[tuple[str, str, str, int | None, dict[str, Any]]]:
    """Endless (ip, mac, source, port, data), device after device, cycling the kinds."""
    n = 0
    while True:
        prefix, lines = KINDS[n % len(KINDS)]
        ip = f"198.{18 + (n >> 16) % 2}.{(n >> 8) & 255}.{n & 255}"
        mac = f"{prefix}:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"
        yield ip, mac, "arp", None, {}
        for source, port, data in lines:
            yield ip, mac, source, port, data
        n += 1


def synthetic(count: int) -> Iterator[dict[str, Any]]:
    gen = device_templates()
    for _ in range(count):
        ip, mac, source, port, data = next(gen)
        yield {"v": 1, "ip": ip, "mac": mac, "source": source, "port": port, "status": "ok", "data": data}


class Clock:
    """Wall and CPU seconds of the timed sections only (the machine may be shared: CPU time
    says what the matcher costs, wall time what a user waits)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def bench_match(count: int, chunk: int = 100_000) -> tuple[Clock, int]:
    matcher = Matcher(load_fingerprints(), load_policies())
    lines = synthetic(count)
    clock = Clock()
    done = 0
    while done < count:
        batch = [Observation.from_dict(d) for _, d in zip(range(min(chunk, count - done)), lines)]
        with clock:
            for obs in batch:
                matcher.add(obs)
        done += len(batch)
    with clock:
        devices = sum(1 for _ in matcher.identifications())
    return clock, devices


def write_synthetic(path: Path, count: int) -> None:
    """`count` synthetic observations as a JSON Lines file."""
    with path.open("w", encoding="utf-8") as fh:
        for d in synthetic(count):
            fh.write(json.dumps(d, separators=(",", ":")) + "\n")


def bench_jsonl(count: int) -> tuple[Clock, int]:
    with tempfile.TemporaryDirectory(prefix="ca-bench-") as tmp:
        path = Path(tmp) / "observations.jsonl"
        write_synthetic(path, count)
        # as `camaudit match FILE` does it (scanner/cli/match.py, scanner/match_stream.py), output to /dev/null
        with (Clock() as clock, path.open(encoding="utf-8") as fh, open(os.devnull, "w") as out,
              collector_paused()):
            matcher = Matcher(load_fingerprints(), load_policies())
            for obs in read_jsonl(fh):
                matcher.add(obs)
            devices, _ = write_identifications(matcher, out)
    return clock, devices


def measure(count: int) -> dict[str, dict[str, Any]]:
    """Both measurements over `count` observations, as a JSON-able dict (bench/run.py uses it)."""
    load_fingerprints(), load_policies()  # loading is not matching
    results = {}
    for name, fn in (("match", bench_match), ("jsonl", bench_jsonl)):
        clock, devices = fn(count)
        results[name] = {"observations": count, "devices": devices,
                         "wall_s": round(clock.wall, 2), "cpu_s": round(clock.cpu, 2),
                         "observations_per_s": round(count / clock.wall),
                         "observations_per_cpu_s": round(count / clock.cpu)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = parser.parse_args()
    results: dict[str, Any] = dict(measure(args.observations))
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    if args.json:
        print(json.dumps(results))
        return
    for name in ("match", "jsonl"):
        r = results[name]
        print(f"{name:6} {r['observations']:>9,} observations, {r['devices']:>7,} devices in {r['wall_s']:6.2f} s "
              f"= {r['observations_per_s']:>9,} observations/s (target >= 50,000); "
              f"CPU {r['cpu_s']:.2f} s = {r['observations_per_cpu_s']:,}/s")
    print(f"peak RSS {results['peak_rss_mib']} MiB")


if __name__ == "__main__":
    main()

"""`camaudit listen` in the lab with chatter on: it hears and identifies what devices
announce unasked, while a capture on the scanner's link proves it sent nothing at all.

The command runs as a user would run it, inside the scanner namespace (`ip netns exec`,
`lab.exec`), on the lab's interface; the capture is the lab's tcpdump on that interface.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from camaudit.audit.listen import MAX_PER_DEVICE, ListenResult, _Heard
from camaudit.observation import Observation
from camaudit.policy import load_policies

# every shipped persona with a [chatter] section, one kind or more each
CHATTERING = ["hikvision-camera", "dahua-camera", "huawei-ont", "hikvision-mdns", "huawei-switch"]
QUIET = ["axis-camera"]          # answers probes, announces nothing: must not be heard as a device
HOSTILE = ["hostile-chatter-flood", "hostile-chatter-oversize", "hostile-chatter-malformed"]
LISTEN_SECONDS = "5"
# the observation source each chatter kind is decoded into (the active probes' sources)
SOURCE_OF_KIND = {"sadp": "sadp", "dhip": "dhip", "wsd": "onvif", "ssdp": "upnp", "mdns": "mdns",
                  "dhcp": "dhcp", "lldp": "lldp"}


def _listen(lab: Any, tmp_path: Path, *args: str) -> list[str]:
    return ["ip", "netns", "exec", lab.scanner_ns, sys.executable, "-m", "camaudit", "listen",
            "--interface", lab.scanner_iface, "--db", f"sqlite:///{tmp_path / 'inv.db'}", *args]


def _env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path), "CAMAUDIT_DATA_DIR": str(tmp_path)}


def _scanner_mac(lab: Any) -> str:
    return lab.exec(["cat", f"/sys/class/net/{lab.scanner_iface}/address"],
                    capture_output=True, text=True, check=True).stdout.strip()


def _sent_by_scanner(packets: list[Any], mac: str, ip: str) -> list[str]:
    """Every captured frame whose Ethernet source is the scanner's MAC or whose IP source is its address."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP, Ether
    out = []
    for pkt in packets:
        if (Ether in pkt and pkt[Ether].src.lower() == mac) or (IP in pkt and pkt[IP].src == ip) \
                or (ARP in pkt and pkt[ARP].psrc == ip):
            out.append(pkt.summary())
    return out


def _misidentified(truth: list[dict[str, Any]], devices: list[dict[str, Any]]) -> list[str]:
    """Chattering personas not identified as their truth says, with the kinds they announce."""
    by_ip = {d.get("ip"): d for d in devices}
    by_mac = {d.get("mac"): d for d in devices}
    wrong = []
    for row in truth:
        if not row["chatter"]:
            continue
        found = by_ip.get(row["ip"]) or by_mac.get(row["mac"])
        got = (found.get("vendor"), found.get("flagged")) if found else (None, False)
        if got != (row["vendor"], row["flagged"]):
            wrong.append(f"{row['persona']} ({', '.join(row['chatter'])}): got vendor={got[0]} flagged={got[1]}, "
                         f"truth vendor={row['vendor']} flagged={row['flagged']}"
                         + ("" if found else "; not heard"))
    return wrong


@pytest.mark.lab
def test_listen_identifies_every_chattering_persona_and_sends_nothing(lab_factory, tmp_path: Path) -> None:
    lab = lab_factory(only=CHATTERING + QUIET, chatter=True)
    truth = lab.truth()
    assert {r["persona"] for r in truth if r["chatter"]} == set(CHATTERING)
    mac = _scanner_mac(lab)
    with lab.capture() as cap:
        done = subprocess.run(_listen(lab, tmp_path, "--duration", LISTEN_SECONDS, "--json",
                                      "--observations-out", str(tmp_path / "heard.jsonl")),
                              capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    sent = _sent_by_scanner(cap.packets(), mac, lab.scanner_ip)
    assert sent == [], f"camaudit listen put {len(sent)} frames on the wire: {sent[:5]}"
    assert len(cap.packets()) > 10                        # the capture did hear the chatter
    summary = json.loads(done.stdout)
    assert summary["stopped_by"] == "duration" and summary["frames"] > 10
    assert summary["own_frames"] == 0
    assert not _misidentified(truth, summary["devices"]), "\n".join(_misidentified(truth, summary["devices"]))
    # every kind was decoded on its own, not only the device identified by another kind or its OUI
    heard = {(o["mac"], o["source"]) for o in map(json.loads, (tmp_path / "heard.jsonl").read_text().splitlines())}
    missing = [f"{r['persona']}: {kind}" for r in truth for kind in r["chatter"]
               if (r["mac"], SOURCE_OF_KIND[kind]) not in heard]
    assert not missing, f"chatter kinds not heard: {missing}"
    quiet_ip = next(r["ip"] for r in truth if r["persona"] == "axis-camera")
    assert quiet_ip not in {d.get("ip") for d in summary["devices"]}


@pytest.mark.lab
def test_sigterm_mid_listen_stores_what_it_was_hearing(lab_factory, tmp_path: Path) -> None:
    lab = lab_factory(only=CHATTERING, chatter=True)
    heard = tmp_path / "heard.jsonl"
    proc = subprocess.Popen(_listen(lab, tmp_path, "--observations-out", str(heard), "--quiet", "--site", "lab"),
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Wait for the chatter of every persona to be heard (each announces within ~2.5 s),
        # bounded by the observation file: nothing is stored until the capture ends.
        for _ in range(200):
            if proc.poll() is not None:
                break
            lines = heard.read_text().count("\n") if heard.exists() else 0
            if lines >= len(CHATTERING):
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 1), err
    assert "Traceback" not in err
    with sqlite3.connect(tmp_path / "inv.db") as db:
        status, site, source, tool = db.execute(
            "SELECT status, site, source_file, source_tool FROM scans").fetchone()
        stored = db.execute("SELECT count(*) FROM observations").fetchone()[0]
    assert (status, site) == ("complete", "lab")
    assert source == f"passive capture on interface {lab.scanner_iface}" and "listen" in tool
    assert stored >= len(CHATTERING), err


@pytest.mark.lab
def test_hostile_chatter_costs_nothing_else(lab_factory, tmp_path: Path) -> None:
    lab = lab_factory(only=CHATTERING + HOSTILE, chatter=True)
    truth = lab.truth()
    done = subprocess.run(_listen(lab, tmp_path, "--duration", LISTEN_SECONDS, "--json", "--no-store"),
                          capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert summary["frames"] > 2000                       # the flood did arrive
    junk_ips = {r["ip"] for r in truth if r["persona"] in HOSTILE and not r["flagged"]}
    assert not any(d.get("flagged") for d in summary["devices"] if d.get("ip") in junk_ips)
    assert summary["observations"] <= MAX_PER_DEVICE * len(truth)
    # every chattering device, the flooding one included, is what its truth says
    assert not _misidentified(truth, summary["devices"]), "\n".join(_misidentified(truth, summary["devices"]))
    assert {r["persona"] for r in truth if r["chatter"]} == set(CHATTERING) | {"hostile-chatter-flood"}


def test_a_device_flooding_distinct_announcements_keeps_only_its_cap() -> None:
    result = ListenResult("lab0")
    heard = _Heard(result, None, load_policies(None))
    flood = [Observation(source="sadp", ip="198.18.0.100", data={"fields": {"n": str(i)}}) for i in range(3 * MAX_PER_DEVICE)]
    other = [Observation(source="sadp", ip="198.18.0.10", data={"fields": {"DeviceSN": "x"}})]
    kept = list(heard.kept(flood + other))
    assert len(kept) == MAX_PER_DEVICE + 1 and kept[-1].ip == "198.18.0.10"
    assert result.capped == 2 * MAX_PER_DEVICE and result.observations == MAX_PER_DEVICE + 1


@pytest.mark.lab
def test_without_cap_net_raw_it_says_so_and_stores_nothing(lab_factory, tmp_path: Path) -> None:
    lab = lab_factory(only=["hikvision-camera"], chatter=True)
    argv = _listen(lab, tmp_path, "--duration", "1")
    at = argv.index(sys.executable)
    # root without CAP_NET_RAW: the bounding set drops it before python starts
    done = subprocess.run([*argv[:at], "setpriv", "--bounding-set=-net_raw", *argv[at:]],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "CAP_NET_RAW" in done.stderr
    with sqlite3.connect(tmp_path / "inv.db") as db:
        assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == 0


@pytest.mark.lab
def test_an_interface_that_is_not_there_is_named_and_nothing_is_picked_instead(lab_factory, tmp_path: Path) -> None:
    lab = lab_factory(only=["hikvision-camera"], chatter=True)
    argv = _listen(lab, tmp_path, "--duration", "1", "--no-store")
    argv[argv.index(lab.scanner_iface)] = "eth9"
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(tmp_path), timeout=60)
    assert done.returncode == 2 and "'eth9'" in done.stderr and "Traceback" not in done.stderr
    missing = subprocess.run(argv[:argv.index("--interface")] + ["--no-store"], capture_output=True, text=True,
                             env=_env(tmp_path), timeout=60)
    assert missing.returncode == 2 and "--interface" in missing.stderr

"""The scan/import CLI paths that need no network: argument errors, nmap import, table safety."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from click.testing import CliRunner

from camaudit.cli import main
from camaudit.report.flagged import print_flagged
from camaudit.discovery.nmap import arguments

NMAP_XML = b"""<?xml version="1.0"?><nmaprun><host><status state="up"/>
<address addr="198.18.0.10" addrtype="ipv4"/><address addr="C0:56:E3:10:00:10" addrtype="mac"/>
<ports><port protocol="tcp" portid="80"><state state="open"/>
<service name="http" product="Hikvision IP camera httpd" devicetype="webcam"/></port></ports></host></nmaprun>"""


def test_import_nmap_writes_observations(tmp_path) -> None:
    xml = tmp_path / "scan.xml"
    xml.write_bytes(NMAP_XML)
    result = CliRunner().invoke(main, ["import", "nmap", str(xml)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["source"], o["mac"], o["port"]) for o in lines] == [
        ("arp", "c0:56:e3:10:00:10", None), ("nmap", "c0:56:e3:10:00:10", 80)]
    assert all(o["v"] == 1 for o in lines)


def test_import_nmap_refuses_entities_with_exit_2(tmp_path) -> None:
    xml = tmp_path / "evil.xml"
    xml.write_bytes(b'<?xml version="1.0"?><!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]><nmaprun>&x;</nmaprun>')
    result = CliRunner().invoke(main, ["import", "nmap", str(xml)])
    assert result.exit_code == 2
    assert "cannot import" in result.stderr


def test_scan_without_targets_is_a_usage_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CAMAUDIT_CONFIG", "/dev/null")
    result = CliRunner().invoke(main, ["scan", "--no-store"])
    assert result.exit_code == 2
    assert "camaudit scans only addresses you name" in result.stderr or "no targets" in result.stderr


def test_bad_target_is_a_usage_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CAMAUDIT_CONFIG", "/dev/null")
    result = CliRunner().invoke(main, ["scan", "--no-store", "cameras.example"])
    assert result.exit_code == 2
    assert "cameras.example" in result.stderr and "198.18.0.10-40" in result.stderr


def test_nmap_backend_always_disables_dns() -> None:
    args = arguments([554, 80, 80], rate=500.7, interface="lab0", privileged=False,
                     targets_file="/t", excludes_file="/x").split()
    assert args[0] == "-n" and "-sT" in args
    assert args[args.index("-p") + 1] == "80,554"
    assert args[args.index("--excludefile") + 1] == "/x" and args[args.index("--max-rate") + 1] == "500"


def test_flagged_table_prints_device_text_inert() -> None:
    ident = SimpleNamespace(ip="198.18.0.2", mac="c0:56:e3:12:00:02", vendor="Hikvision", brand="[bold red]x",
                            model="\x1b]0;owned\x07=cmd", flagged=True, policies=["us-ndaa-889"],
                            evidence=[{"source": "http", "port": 80}])
    out = io.StringIO()
    print_flagged([ident], out)
    text = out.getvalue()
    assert "[bold red]x" in text            # markup shown, not interpreted
    assert "\x1b" not in text and "\\x1b" in text
    assert "http:80" in text and "us-ndaa-889" in text


def _scan_in_private_namespace(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    """`camaudit scan` in a new network namespace holding only loopback (127.0.0.1 up):
    whatever the scan does, no packet can leave it."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a private network namespace")
    script = 'ip link set lo up && exec "$@"'
    return subprocess.run(["unshare", "--net", "sh", "-c", script, "sh",
                           sys.executable, "-m", "camaudit", "scan", *args],
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(tmp_path),
                               "CAMAUDIT_CONFIG": "/dev/null"})


def test_scan_of_only_this_hosts_own_address_exits_2_saying_so(tmp_path) -> None:
    result = _scan_in_private_namespace(tmp_path, "127.0.0.1", "--no-store")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "nothing left to scan: not scanning 127.0.0.1: this host's own address" in result.stderr
    assert result.stdout == ""


def test_scan_says_which_own_address_it_dropped_and_scans_the_rest(tmp_path) -> None:
    log = tmp_path / "scan.log"
    result = _scan_in_private_namespace(tmp_path, "127.0.0.1-2", "--no-store", "--json",
                                        "--log-format", "json", "--log-file", str(log))
    assert result.returncode == 0, result.stderr
    # once, through the log's stderr handler (in the log format the user chose), not echoed again
    assert result.stderr.count("not scanning 127.0.0.1: this host's own address") == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["targets"] == 1 and report["warnings"][0].startswith("not scanning 127.0.0.1: ")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e.get("event") == "scan.warning" and "127.0.0.1" in e["msg"] for e in events)

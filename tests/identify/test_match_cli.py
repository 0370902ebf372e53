"""`camaudit match` and `camaudit fingerprints …` through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from camaudit.cli import main

LINES = [
    {"v": 1, "ip": "198.18.0.10", "mac": "c0:56:e3:12:34:56", "source": "http", "port": 80,
     "data": {"path": "/", "status": 200, "headers": {"Server": "App-webs/"}}},
    {"v": 1, "ip": "198.18.0.10", "mac": "c0:56:e3:12:34:56", "source": "onvif", "port": 80,
     "data": {"device_info": {"manufacturer": "Annke", "model": "C500"}}},
    {"v": 1, "ip": "198.18.0.20", "mac": "ac:cc:8e:00:00:20", "source": "http", "port": 80,
     "data": {"headers": {"WWW-Authenticate": 'Digest realm="AXIS_ACCC8E000020"'}}},
]


def _jsonl(lines: list[dict]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_match_file_prints_one_identification_per_device(tmp_path: Path) -> None:
    path = tmp_path / "obs.jsonl"
    path.write_text(_jsonl(LINES))
    res = CliRunner().invoke(main, ["match", str(path)])
    assert res.exit_code == 1, res.output      # a flagged device was found
    out = [json.loads(line) for line in res.stdout.splitlines()]
    by_ip = {o["ip"]: o for o in out}
    assert len(out) == 2
    hik = by_ip["198.18.0.10"]
    assert (hik["vendor"], hik["brand"], hik["model"], hik["flagged"]) == ("Hikvision", "Annke", "C500", True)
    for key in ("ip", "mac", "vendor", "brand", "model", "firmware", "serial", "flagged", "policies",
                "confidence", "evidence"):
        assert key in hik
    assert (by_ip["198.18.0.20"]["vendor"], by_ip["198.18.0.20"]["flagged"]) == ("Axis", False)
    assert by_ip["198.18.0.20"]["serial"] == "ACCC8E000020"


def test_match_stdin_equals_file_and_policy_selection(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["match", "-", "--policy", "ca-hikvision-2025"], input=_jsonl(LINES))
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert {o["ip"]: o["policies"] for o in out} == {"198.18.0.10": ["ca-hikvision-2025"], "198.18.0.20": []}
    clean = CliRunner().invoke(main, ["match", "-"], input=_jsonl(LINES[2:]))
    assert clean.exit_code == 0 and json.loads(clean.stdout)["vendor"] == "Axis"


def test_match_reports_bad_lines_and_unknown_policies() -> None:
    text = _jsonl(LINES[2:]) + "not json\n" + '{"v": 1, "source": "http"}\n'
    res = CliRunner().invoke(main, ["match", "-"], input=text)
    assert res.exit_code == 0
    assert "skipped 2 line(s)" in res.stderr and "line 2:" in res.stderr and "line 3: an observation needs an ip or a mac" in res.stderr
    assert len(res.stdout.splitlines()) == 1
    res = CliRunner().invoke(main, ["match", "-"], input="garbage\n")
    assert res.exit_code == 2 and "no usable observation" in res.stderr
    res = CliRunner().invoke(main, ["match", "-", "--policy", "nope"], input=_jsonl(LINES))
    assert res.exit_code == 2 and "unknown policy id(s) nope" in res.output


def test_match_as_a_real_process_streams_stdin(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "camaudit"
    proc = subprocess.run([str(exe), "match"], input=_jsonl(LINES), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert sorted(json.loads(line)["vendor"] for line in proc.stdout.splitlines()) == ["Axis", "Hikvision"]


def test_fingerprints_commands() -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["fingerprints", "verify"])
    assert res.exit_code == 0 and ": ok" in res.stdout
    res = runner.invoke(main, ["fingerprints", "list", "--vendor", "Hytera"])
    assert res.exit_code == 0 and "hytera.snmp.enterprise" in res.stdout and "dahua" not in res.stdout
    res = runner.invoke(main, ["fingerprints", "explain", "hikvision.http.server.bare-webs"])
    assert res.exit_code == 0 and "generic: counts only beside another signal" in res.stdout
    assert "example   'Webs' -> vendor Hikvision" in res.stdout
    res = runner.invoke(main, ["fingerprints", "explain", "hikvision.nope"])
    assert res.exit_code == 2 and "similar: hikvision." in res.output
    res = runner.invoke(main, ["fingerprints", "policies", "--json"])
    assert [json.loads(line)["id"] for line in res.stdout.splitlines()][-1] == "us-ndaa-889"

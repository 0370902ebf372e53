"""docs/operations.md stays true: every key and exit code documented, the units and cron line valid."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from camaudit.config import KEYS
from camaudit.exitcodes import ExitCode

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_config_key_and_env_variable_is_documented(doc: str) -> None:
    for key in KEYS.values():
        assert f"`{key.name}`" in doc, key.name
        if not key.name.startswith("report."):
            assert f"`{key.env}`" in doc, key.env


def test_every_exit_code_is_documented(doc: str) -> None:
    table = {int(m) for m in re.findall(r"^\| (\d+) \|", doc, re.M)}
    assert table == {int(code) for code in ExitCode}


def test_example_config_in_the_doc_is_valid(doc: str, tmp_path: Path) -> None:
    from camaudit.config import load_config

    example = re.search(r"```toml\n(# /etc/camaudit/config.toml.*?)```", doc, re.S)
    assert example, "the example config block is missing"
    path = tmp_path / "config.toml"
    path.write_text(example.group(1))
    config = load_config(config_path=path, env={})
    assert config["targets"] and config["site"] == "hq"
    assert config.reports() == {"html": "/var/lib/camaudit/reports/camaudit.html",
                                "csv": "/var/lib/camaudit/reports/camaudit.csv"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_verify_cleanly(doc: str, tmp_path: Path) -> None:
    service, timer = re.findall(r"```ini\n(.*?)```", doc, re.S)
    script = Path(sys.executable).parent / "camaudit"
    (tmp_path / "camaudit-scan.service").write_text(service.replace("/opt/camaudit/bin/camaudit", str(script)))
    (tmp_path / "camaudit-scan.timer").write_text(timer)
    result = subprocess.run(["systemd-analyze", "verify", "camaudit-scan.service", "camaudit-scan.timer"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr  # typos only warn


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_cron_line_grants_exactly_cap_net_raw_to_an_unprivileged_user(doc: str) -> None:
    """Run the documented setpriv prefix (user `nobody` standing in for `camaudit`)."""
    line = next(l for l in doc.splitlines() if re.match(r"^[\d*]+ [\d*]+ \* \* \* root setpriv ", l))
    argv = line.split()[6:]
    camaudit_at = next(i for i, a in enumerate(argv) if a.endswith("/camaudit"))
    assert argv[camaudit_at + 1:camaudit_at + 3] == ["scan", "--quiet"]
    prefix = [a.replace("=camaudit", "=nobody") for a in argv[:camaudit_at]]
    prefix = [a.replace("--regid=nobody", "--regid=nogroup") for a in prefix]
    result = subprocess.run([*prefix, "grep", "-E", "^(Uid|CapEff|CapBnd):", "/proc/self/status"],
                            capture_output=True, text=True, timeout=30, check=True)
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert fields["Uid"].split()[0] != "0"
    assert int(fields["CapEff"], 16) == 1 << 13 == int(fields["CapBnd"], 16)  # CAP_NET_RAW only

"""`camaudit config check` and `camaudit doctor` as cron would run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camaudit.exitcodes import ExitCode


def test_config_check_prints_values_and_their_sources(cron, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('targets = ["198.18.0.0/24"]\nrate = 50\n[report]\nhtml = "/tmp/r.html"\n')
    result = cron("config", "check", "--config", str(config), CAMAUDIT_RATE="75",
                  CAMAUDIT_DB=f"sqlite:///{tmp_path}/inv.db")
    assert result.returncode == ExitCode.CLEAN, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    assert "198.18.0.0/24" in lines["targets"] and f"({config}:1)" in lines["targets"]
    assert " 75 " in lines["rate"] and "(env CAMAUDIT_RATE)" in lines["rate"]
    assert "/tmp/r.html" in lines["report.html"] and f"({config}:4)" in lines["report.html"]
    assert "(default)" in lines["log_format"]
    assert "configuration is valid" in result.stdout and result.stderr == ""


def test_config_check_json(cron, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('site = "hq"\n')
    result = cron("config", "check", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["file"] == str(config) and doc["valid"] is True
    assert doc["settings"]["site"] == {"value": "hq", "source": f"{config}:1"}
    assert doc["settings"]["db"]["value"].startswith("sqlite:///") and \
        doc["settings"]["db"]["source"] == "default"


def test_config_check_broken_file_exits_2_naming_file_key_and_fix(cron, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('targets = ["198.18.0.0/24"]\nrate = "fast"\n')
    result = cron("config", "check", "--config", str(config))
    assert result.returncode == ExitCode.USAGE
    assert result.stdout == ""
    assert f"{config}:2: key 'rate' must be a positive integer (got 'fast'); fix: rate = 200" in result.stderr

    config.write_text('targts = ["198.18.0.0/24"]\n')
    result = cron("config", "check", "--config", str(config))
    assert result.returncode == ExitCode.USAGE and "did you mean 'targets'" in result.stderr


def test_config_check_reads_user_config_dir_and_bad_env(cron) -> None:
    user_config = cron.home / ".config" / "camaudit" / "config.toml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text('site = "branch-7"\n')
    result = cron("config", "check")
    if Path("/etc/camaudit/config.toml").exists():  # the system file comes first, by design
        assert "/etc/camaudit/config.toml" in result.stdout
    else:
        assert result.returncode == 0 and f"config file: {user_config}" in result.stdout
        assert "branch-7" in result.stdout
    result = cron("config", "check", CAMAUDIT_PORTS="80,notaport")
    assert result.returncode == ExitCode.USAGE
    assert "environment variable CAMAUDIT_PORTS" in result.stderr and "fix: CAMAUDIT_PORTS=" in result.stderr


def test_config_check_missing_named_file(cron, tmp_path: Path) -> None:
    result = cron("config", "check", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == ExitCode.USAGE and "does not exist" in result.stderr


def test_doctor_reports_every_check_and_fails_on_unreachable_db(cron, tmp_path: Path) -> None:
    result = cron("doctor", "--json", "--db", f"sqlite:///{tmp_path}/inv.db")
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert set(checks) == {"config", "privileges", "nmap", "interfaces", "oui data",
                           "fingerprints", "database", "scan lock"}
    assert checks["database"]["level"] == "ok" and "does not exist yet" in checks["database"]["detail"]
    assert "camaudit scans only targets you name" in checks["interfaces"]["detail"]
    assert not (tmp_path / "inv.db").exists(), "the doctor must not create the inventory"
    assert result.returncode == (ExitCode.RUNTIME if any(c["level"] == "fail" for c in checks.values())
                                 else ExitCode.CLEAN)

    bad = cron("doctor", "--db", "postgresql+psycopg://camaudit@127.0.0.1:9/none")
    assert bad.returncode == ExitCode.RUNTIME
    assert any(line.startswith("fail  database") for line in bad.stdout.splitlines())
    assert "fix: check the db URL" in bad.stdout


def test_doctor_with_broken_config_still_runs_the_other_checks(cron, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("rate = 0\n")
    result = cron("doctor", "--config", str(config), "--db", f"sqlite:///{tmp_path}/inv.db")
    assert result.returncode == ExitCode.RUNTIME
    assert f"fail  config        {config}:1: key 'rate' must be a positive integer (got 0)" in result.stdout
    assert "privileges" in result.stdout and "database" in result.stdout


def test_privilege_and_route_parsers_read_proc_formats() -> None:
    from camaudit.doctor import Level, check_privileges, default_route

    root = "Name:\tpython\nCapEff:\t000001ffffffffff\n"
    unprivileged = "Name:\tpython\nCapEff:\t0000000000000000\n"
    raw_only = "CapEff:\t0000000000002000\n"
    assert check_privileges(root).level is Level.OK
    assert check_privileges(raw_only).detail == "effective capabilities: CAP_NET_RAW"
    weak = check_privileges(unprivileged)
    assert weak.level is Level.WARN and "AmbientCapabilities=CAP_NET_RAW" in weak.fix
    table = ("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
             "lab0\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\n")
    assert default_route(table) is None
    assert default_route(table + "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n") == "eth0"


def _setpriv_available() -> bool:
    import os
    import shutil

    return os.geteuid() == 0 and shutil.which("setpriv") is not None


@pytest.mark.skipif(not _setpriv_available(), reason="needs root and setpriv to drop capabilities")
@pytest.mark.parametrize("caps, level, detail", [
    ("+net_raw", "ok", "effective capabilities: CAP_NET_RAW"),   # the least-privilege setup
    ("", "warn", "no CAP_NET_RAW"),
])
def test_doctor_sees_the_capabilities_it_really_has(cron, tmp_path: Path, caps: str, level: str, detail: str) -> None:
    """Run the doctor with a capability set cut down by setpriv, as systemd's
    AmbientCapabilities=/CapabilityBoundingSet= would (docs/operations.md)."""
    keep = f"-all,{caps}" if caps else "-all"
    setpriv = ("setpriv", f"--bounding-set={keep}", f"--inh-caps={keep}", f"--ambient-caps={keep}")
    result = cron.within(*setpriv)("doctor", "--json", "--db", f"sqlite:///{tmp_path}/inv.db")
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["privileges"]["level"] == level
    assert checks["privileges"]["detail"].startswith(detail)


def test_config_check_reports_unusable_files(cron, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'targets_file = "{tmp_path}/absent.txt"\n'
                      f'log_file = "{tmp_path}/logs/camaudit.log"\n'   # missing dir: created on demand
                      f'[report]\nhtml = "{tmp_path}"\n')              # a directory, not a file
    result = cron("config", "check", "--config", str(config))
    assert result.returncode == ExitCode.USAGE
    errors = result.stderr.splitlines()
    assert f"{config}:1: key 'targets_file' names {tmp_path}/absent.txt, which is not a readable file" in errors[0]
    assert f"{config}:4: key 'report.html' names {tmp_path}, which this user cannot write" in errors[1]
    assert len(errors) == 2
    (tmp_path / "absent.txt").write_text("198.18.0.0/24\n")
    config.write_text(f'targets_file = "{tmp_path}/absent.txt"\n[report]\nhtml = "{tmp_path}/r.html"\n')
    assert cron("config", "check", "--config", str(config)).returncode == 0


def test_doctor_fails_when_iproute2_is_not_on_path(cron, tmp_path: Path) -> None:
    result = cron("doctor", "--json", "--db", f"sqlite:///{tmp_path}/inv.db", PATH=str(tmp_path))
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["interfaces"]["level"] == "fail" and "`ip` is not on PATH" in checks["interfaces"]["detail"]
    assert result.returncode == ExitCode.RUNTIME

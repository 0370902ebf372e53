"""Least privilege and hygiene: private files, no secrets in output or logs, clear refusals.

Every command runs as a user would run it, under a permissive umask (000) so that a private
mode must come from camaudit itself, and — for `scan` — inside a fresh empty network
namespace (`unshare -n`): if a refusal ever failed, the packets would have nowhere to go.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from camaudit.targets import OUT_OF_SCOPE

UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
SECRET = "S3cretPw-never-print-me"
PG_URL = f"postgresql+psycopg://camaudit:{SECRET}@127.0.0.1:1/inventory"   # loopback, nothing listens


def camaudit(*args: str, env: dict[str, str] | None = None, isolated: bool = False,
             cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run camaudit with umask 000; `isolated` puts it in an empty network namespace."""
    if isolated and os.geteuid() != 0:
        pytest.skip("an empty network namespace needs root")
    argv = [*([UNSHARE, "-n"] if isolated else []), sys.executable, "-m", "camaudit", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, **(env or {})}, preexec_fn=lambda: os.umask(0))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_inventory_exports_observations_and_logs_are_private(tmp_path: Path) -> None:
    db = tmp_path / "data" / "inventory.sqlite3"
    url = f"sqlite:///{db}"
    assert camaudit("db", "upgrade", "--db", url).returncode == 0
    assert mode(db) == 0o600 and mode(db.parent) == 0o700
    for fmt in ("csv", "json", "xlsx", "html"):
        out = tmp_path / f"findings.{fmt}"
        r = camaudit("export", "--format", fmt, "-o", str(out), "--db", url)
        assert r.returncode == 0, r.stderr
        assert mode(out) == 0o600, fmt
    for leftover in db.parent.iterdir():                      # WAL/SHM files too
        assert mode(leftover) & 0o077 == 0, leftover

    obs = tmp_path / "obs.jsonl"
    obs.write_text("")
    obs.chmod(0o644)
    r = camaudit("scan", "198.18.0.5", "--no-store", "--observations-out", str(obs), isolated=True)
    assert r.returncode == 2 and "no route" in r.stderr      # empty namespace: nothing to reach
    assert mode(obs) == 0o644 and [p.name for p in tmp_path.glob(".obs.jsonl.*")] == []  # failed: left as it was

    nmap_xml = tmp_path / "scan.xml"
    nmap_xml.write_text('<nmaprun><host><address addrtype="ipv4" addr="198.18.0.9"/></host></nmaprun>')
    imported = tmp_path / "imported.jsonl"
    imported.write_text("")
    imported.chmod(0o644)                                     # replaced by a 0600 file, not trusted
    assert camaudit("import", "nmap", str(nmap_xml), "-o", str(imported)).returncode == 0
    assert mode(imported) == 0o600


def test_log_file_is_created_0640_at_most(tmp_path: Path) -> None:
    log = tmp_path / "camaudit.log"
    code = ("import logging; from camaudit.logs import setup_logging; "
            f"setup_logging(fmt='json', level='info', log_file={str(log)!r}); "
            "logging.getLogger('camaudit.test').warning('hello')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: os.umask(0))
    assert r.returncode == 0, r.stderr
    assert "hello" in log.read_text() and mode(log) & 0o037 == 0   # no write for group, nothing for others


@pytest.mark.parametrize("args", [
    ("findings",), ("assets",), ("export", "--format", "json"), ("report",), ("config", "check"), ("doctor",),
])
def test_database_password_never_printed_or_logged(args: tuple[str, ...], tmp_path: Path) -> None:
    log = tmp_path / "camaudit.log"
    env = {"CAMAUDIT_DB": PG_URL, "CAMAUDIT_LOG_FILE": str(log), "CAMAUDIT_LOG_FORMAT": "json",
           "CAMAUDIT_LOG_LEVEL": "debug"}
    r = camaudit(*args, env=env, isolated=True)
    seen = r.stdout + r.stderr + (log.read_text() if log.exists() else "")
    assert SECRET not in seen, args
    if args[0] in ("findings", "assets", "export", "report"):
        assert r.returncode == 3 and "***" in r.stderr, (args, r.stderr)   # it did try, and said where


def test_scan_with_a_password_url_keeps_it_out_of_output(tmp_path: Path) -> None:
    r = camaudit("scan", "198.18.0.5", "--db", PG_URL, "--json", isolated=True,
                 env={"CAMAUDIT_LOG_FILE": str(tmp_path / "l.log"), "CAMAUDIT_LOG_LEVEL": "debug"})
    assert r.returncode in (2, 3)
    log = tmp_path / "l.log"
    assert SECRET not in r.stdout + r.stderr + (log.read_text() if log.exists() else "")


@pytest.mark.parametrize("cidr", [c for c, _ in OUT_OF_SCOPE])
def test_targets_reaching_out_of_scope_ranges_are_refused(cidr: str) -> None:
    wide = {"0.0.0.0/8": "0.0.0.0/6", "224.0.0.0/4": "192.0.0.0/2", "240.0.0.0/4": "255.255.255.255",
            "::/128": "::/120", "ff00::/8": "feff:ffff:ffff:ffff:ffff:ffff:ffff:ff00-ff00::ff"}[cidr]
    r = camaudit("scan", wide, "--no-store", "--force", isolated=True)
    assert r.returncode == 2, r.stderr
    assert cidr in r.stderr and f"--exclude {cidr}" in r.stderr
    ok = camaudit("scan", wide, "--exclude", cidr, "--exclude", "0.0.0.0/8", "--exclude", "224.0.0.0/3",
                  "--no-store", "--force", "--max-targets", "1", isolated=True)
    assert "holds no devices" not in ok.stderr                # the user can go ahead by excluding it


def test_fully_excluded_target_list_is_refused_before_any_packet() -> None:
    r = camaudit("scan", "198.18.0.5", "198.18.0.7", "--exclude", "198.18.0.0/24", "--no-store", isolated=True)
    assert r.returncode == 2 and "every target is excluded" in r.stderr


def test_empty_target_list_is_refused_not_guessed() -> None:
    r = camaudit("scan", "--no-store", isolated=True)
    assert r.returncode == 2 and "never picks targets" in r.stderr


def test_json_scan_output_is_valid_even_when_refused() -> None:
    r = camaudit("scan", "255.255.255.255", "--no-store", "--json", isolated=True)
    assert r.returncode == 2 and r.stdout == ""               # errors on stderr, never half a JSON
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.stdout or "")

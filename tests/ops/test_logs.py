"""Log output: JSON lines a SIEM can parse, quiet stderr, a file that keeps everything."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from camaudit.logs import setup_logging


@pytest.fixture(autouse=True)
def restore_logging():
    yield
    setup_logging()  # leave the default text handlers for other tests


def test_json_lines_carry_fixed_keys_extras_and_exceptions(tmp_path: Path) -> None:
    stream = io.StringIO()
    setup_logging(fmt="json", level="info", stream=stream)
    log = logging.getLogger("camaudit.engine")
    log.info("scan finished", extra={"event": "scan.finished", "scan_id": 7, "path": tmp_path})
    try:
        raise ValueError("bad banner \u00ff")
    except ValueError:
        log.error("probe failed on %s", "198.18.0.23", exc_info=True)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["level"] == "info" and first["logger"] == "camaudit.engine"
    assert first["msg"] == "scan finished" and first["event"] == "scan.finished"
    assert first["scan_id"] == 7 and first["path"] == str(tmp_path)
    assert first["ts"].endswith("Z") and first["ts"][10] == "T"
    assert second["msg"] == "probe failed on 198.18.0.23" and "ValueError" in second["exc"]


def test_quiet_keeps_stderr_to_errors_but_the_file_gets_everything(tmp_path: Path) -> None:
    stream = io.StringIO()
    log_file = tmp_path / "sub" / "camaudit.log"
    setup_logging(fmt="text", level="info", quiet=True, log_file=log_file, stream=stream)
    log = logging.getLogger("camaudit.db.store")
    log.info("stored 3 assets", extra={"scan_id": 2})
    log.warning("slow database")
    log.error("database unreachable")
    assert stream.getvalue().count("\n") == 1 and "database unreachable" in stream.getvalue()
    text = log_file.read_text()
    assert "stored 3 assets scan_id=2" in text and "slow database" in text and "unreachable" in text
    assert stat.S_IMODE(log_file.stat().st_mode) & 0o007 == 0, "logs name devices: not world-readable"


def test_file_handler_follows_logrotate(tmp_path: Path) -> None:
    log_file = tmp_path / "camaudit.log"
    setup_logging(level="info", log_file=log_file, stream=io.StringIO())
    log = logging.getLogger("camaudit")
    log.info("before rotation")
    log_file.rename(tmp_path / "camaudit.log.1")
    log.info("after rotation")
    assert "after rotation" in log_file.read_text()
    assert "before rotation" in (tmp_path / "camaudit.log.1").read_text()


def test_level_and_third_party_noise(tmp_path: Path) -> None:
    stream = io.StringIO()
    setup_logging(level="warning", stream=stream)
    logging.getLogger("camaudit").info("hidden")
    logging.getLogger("camaudit").warning("shown")
    assert "hidden" not in stream.getvalue() and "shown" in stream.getvalue()
    assert logging.getLogger("scapy").getEffectiveLevel() == logging.WARNING


def test_stderr_handler_follows_a_swapped_sys_stderr(monkeypatch) -> None:
    setup_logging(level="info")
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    logging.getLogger("camaudit").warning("to the first")
    first.close()                      # e.g. a CLI test runner's captured stream, gone
    monkeypatch.setattr("sys.stderr", second)
    logging.getLogger("camaudit").warning("to the second")
    assert "to the second" in second.getvalue() and "Logging error" not in second.getvalue()


LOG_UNDER_UMASK_0 = """
import logging, os, sys
os.umask(0)
from camaudit.logs import setup_logging
setup_logging(level="info", log_file=sys.argv[1])
logging.getLogger("camaudit.engine").info("scan started")
"""


def _log_under_umask_0(log_file: Path) -> subprocess.CompletedProcess[str]:
    """setup_logging in a fresh process whose umask is 000 (the worst a cron job can inherit)."""
    return subprocess.run([sys.executable, "-c", LOG_UNDER_UMASK_0, str(log_file)],
                          capture_output=True, text=True, check=True)


def test_new_log_file_and_directories_are_private_under_umask_0(tmp_path: Path) -> None:
    log_file = tmp_path / "var" / "camaudit" / "camaudit.log"
    _log_under_umask_0(log_file)
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o640
    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o750
    assert stat.S_IMODE(log_file.parent.parent.stat().st_mode) == 0o750
    assert "scan started" in log_file.read_text()


def test_existing_world_writable_log_is_narrowed_with_a_warning(tmp_path: Path) -> None:
    log_file = tmp_path / "camaudit.log"
    log_file.write_text("old line\n")
    log_file.chmod(0o666)
    result = _log_under_umask_0(log_file)
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o640
    assert "was mode 0666" in result.stderr and "narrowed to 0640" in result.stderr
    assert log_file.read_text().startswith("old line\n")


def test_log_to_a_device_keeps_its_mode(tmp_path: Path) -> None:
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # the null device, our own node
    except PermissionError:
        pytest.skip("creating a device node needs root")
    node.chmod(0o666)
    _log_under_umask_0(node)
    assert stat.S_ISCHR(node.stat().st_mode) and stat.S_IMODE(node.stat().st_mode) == 0o666

"""Output files: atomic 0600 regular files, FIFOs and devices written in place, symlinks refused,
one-line errors, stale temps of killed writers removed — for every command that writes one."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from camaudit.cli import main
from camaudit.outfile import ABANDONED_AFTER, STALE_AFTER, remove_stale_temps, write_atomic


def test_writes_complete_file_with_owner_only_mode(tmp_path):
    target = tmp_path / "out.csv"
    write_atomic(target, lambda stream: stream.write(b"a,b\n"))
    assert target.read_bytes() == b"a,b\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["out.csv"]


def test_failure_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "out.csv"
    target.write_bytes(b"old export\n")

    def half_then_fail(stream):
        stream.write(b"partial")
        raise RuntimeError("row 3 broke")

    with pytest.raises(RuntimeError, match="row 3 broke"):
        write_atomic(target, half_then_fail)
    assert target.read_bytes() == b"old export\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_failure_without_old_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "new.xlsx", lambda stream: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert os.listdir(tmp_path) == []


def test_replaces_existing_file_and_tightens_its_mode(tmp_path):
    target = tmp_path / "report.html"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_atomic(target, lambda stream: stream.write(b"new"))
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


# --- the CLI writers: export -o, import nmap -o, scan --observations-out -----------------

def _host(i: int) -> str:
    return (f'<host><status state="up"/><address addr="198.18.{i // 250}.{i % 250 + 1}" addrtype="ipv4"/>'
            f'<address addr="C0:56:E3:{i >> 16 & 255:02X}:{i >> 8 & 255:02X}:{i & 255:02X}" addrtype="mac"/>'
            '<ports><port protocol="tcp" portid="80"><state state="open"/>'
            '<service name="http" product="Hikvision IP camera httpd"/></port></ports></host>')


@pytest.fixture
def nmap_xml(tmp_path: Path) -> Path:
    """An nmap XML file of 400 hosts: 800 observations, tens of KiB of JSON Lines."""
    xml = tmp_path / "scan.xml"
    xml.write_text('<?xml version="1.0"?><nmaprun>' + "".join(_host(i) for i in range(400)) + "</nmaprun>")
    return xml


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def one_line_error(result: Any, code: int) -> str:
    """The command failed with `code` and exactly one line on stderr, no traceback."""
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def export(tmp_path: Path, target: Path, fmt: str = "json") -> Any:
    return cli("export", "--db", f"sqlite:///{tmp_path / 'inventory.sqlite3'}", "-f", fmt, "-o", str(target))


def device_node(path: Path, minor: int) -> Path:
    """Our own node for a memory device (1,3 null, 1,7 full): never the real /dev entries."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    path.chmod(0o666)
    return path


def test_export_to_a_fifo_writes_through_it_and_keeps_the_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    received = []
    # daemon: a writer that replaced the FIFO instead of writing it would leave it blocked
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = export(tmp_path, fifo)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    reader.join()
    assert json.loads(received[0])["schema"] == "camaudit.findings"
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and stat.S_IMODE(fifo.lstat().st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["inventory.sqlite3", "pipe"]


def test_export_to_a_character_device_keeps_the_node_and_its_mode(tmp_path):
    null = device_node(tmp_path / "null", 3)
    assert export(tmp_path, null).exit_code == 0
    assert stat.S_ISCHR(null.lstat().st_mode) and null.lstat().st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.lstat().st_mode) == 0o666


def test_export_to_a_full_device_is_a_one_line_runtime_error(tmp_path):
    full = device_node(tmp_path / "full", 7)  # every write fails with ENOSPC
    err = one_line_error(export(tmp_path, full), 3)
    assert str(full) in err and "no space left" in err
    assert stat.S_ISCHR(full.lstat().st_mode) and stat.S_IMODE(full.lstat().st_mode) == 0o666


@pytest.mark.parametrize("command", ["export", "import", "scan"])
def test_a_symlink_target_is_refused_and_what_it_points_to_is_unchanged(tmp_path, nmap_xml, command):
    real = tmp_path / "real.json"
    real.write_text("keep me\n")
    real.chmod(0o644)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = {"export": lambda: export(tmp_path, link),
              "import": lambda: cli("import", "nmap", str(nmap_xml), "-o", str(link)),
              # refused before any packet: the output is opened before the scan starts
              "scan": lambda: cli("scan", "198.18.0.1", "--no-store", "--observations-out", str(link))}[command]()
    err = one_line_error(result, 2)
    assert "symbolic link" in err and str(link) in err
    assert real.read_text() == "keep me\n" and stat.S_IMODE(real.stat().st_mode) == 0o644
    assert link.is_symlink()


def test_import_replaces_the_observations_file_atomically_and_privately(tmp_path, nmap_xml):
    out = tmp_path / "obs.jsonl"
    out.write_text("previous\n")
    out.chmod(0o644)
    assert cli("import", "nmap", str(nmap_xml), "-o", str(out)).exit_code == 0
    assert len(out.read_text().splitlines()) == 800
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["obs.jsonl", "scan.xml"]


@pytest.mark.parametrize("where", ["missing/obs.jsonl", "scan.xml/obs.jsonl"])
def test_import_to_a_bad_directory_is_a_one_line_usage_error(tmp_path, nmap_xml, where):
    err = one_line_error(cli("import", "nmap", str(nmap_xml), "-o", str(tmp_path / where)), 2)
    assert str(tmp_path / where) in err and "choose another path" in err


KILLED_MID_WRITE = """
import os, signal, sys
import camaudit.cli.imports as import_cli
from camaudit.cli import main
from camaudit.observation import write_jsonl

def write_half_then_die(observations, out, *args, **kwargs):
    write_jsonl(list(observations)[:300], out, *args, **kwargs)
    out.flush()
    os.kill(os.getpid(), signal.SIGKILL)

import_cli.write_jsonl = write_half_then_die
main(sys.argv[1:])
"""


def test_a_killed_import_keeps_the_previous_file_and_the_next_write_removes_its_temp(tmp_path, nmap_xml):
    out = tmp_path / "obs.jsonl"
    out.write_text('{"previous": "complete"}\n')
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, "import", "nmap", str(nmap_xml),
                             "-o", str(out)], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    assert out.read_text() == '{"previous": "complete"}\n'
    leftovers = [name for name in os.listdir(tmp_path) if name not in ("obs.jsonl", "scan.xml")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".obs.jsonl.camaudit-")
    stale = tmp_path / leftovers[0]
    os.utime(stale, (time.time() - 2 * STALE_AFTER,) * 2)  # the kill happened a while ago
    assert cli("import", "nmap", str(nmap_xml), "-o", str(out)).exit_code == 0
    assert sorted(os.listdir(tmp_path)) == ["obs.jsonl", "scan.xml"]
    assert len(out.read_text().splitlines()) == 800


def test_stale_temps_are_removed_only_when_ours_dead_and_old(tmp_path):
    now = time.time()
    dead = _dead_pid()
    names = {"dead_old": f".a.csv.camaudit-{dead}.x1.tmp", "dead_fresh": f".b.csv.camaudit-{dead}.x2.tmp",
             "alive_old": f".c.csv.camaudit-{os.getppid()}.x3.tmp", "foreign": f".d.csv.other-{dead}.x4.tmp",
             "ancient_alive": f".e.csv.camaudit-{os.getppid()}.x5.tmp"}
    ages = {"dead_old": 2 * STALE_AFTER, "dead_fresh": 1.0, "alive_old": 2 * STALE_AFTER,
            "foreign": 2 * ABANDONED_AFTER, "ancient_alive": 2 * ABANDONED_AFTER}
    for key, name in names.items():
        (tmp_path / name).write_text("partial")
        os.utime(tmp_path / name, (now - ages[key],) * 2)
    removed = remove_stale_temps(tmp_path, now=now)
    assert sorted(removed) == sorted([names["dead_old"], names["ancient_alive"]])
    assert sorted(os.listdir(tmp_path)) == sorted(names[k] for k in ("dead_fresh", "alive_old", "foreign"))


def _dead_pid() -> int:
    """The PID of a child that has exited and been reaped: no process has it now."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


FULL_TMPFS = """
set -e
mount -t tmpfs -o size=64k,mode=0755 camaudit-test "$1"
printf '{"previous": "complete"}\\n' > "$1/obs.jsonl"
set +e
"$2" -m camaudit import nmap "$3" -o "$1/obs.jsonl"
echo "rc=$?"
cat "$1/obs.jsonl"
ls -A "$1"
"""


def test_a_full_file_system_is_a_one_line_runtime_error_and_keeps_the_previous_file(tmp_path, nmap_xml):
    """A 64 KiB tmpfs in a private mount namespace: gone when the child exits, the host's disks untouched."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    big = tmp_path / "big.xml"  # 2,000 hosts: ~400 KiB of observations, far over 64 KiB
    big.write_text('<?xml version="1.0"?><nmaprun>' + "".join(_host(i) for i in range(2000)) + "</nmaprun>")
    try:
        run = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", FULL_TMPFS, "sh",
                              str(mnt), sys.executable, str(big)], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        pytest.skip("unshare is not installed")
    if "rc=" not in run.stdout:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace: {run.stderr.strip()}")
    lines = run.stdout.splitlines()
    assert lines == ["rc=3", '{"previous": "complete"}', "obs.jsonl"], run.stdout
    err = run.stderr.strip().splitlines()
    assert len(err) == 1 and "no space left" in err[0] and "obs.jsonl" in err[0] and "intact" in err[0]
    assert os.listdir(mnt) == []  # the tmpfs never existed out here

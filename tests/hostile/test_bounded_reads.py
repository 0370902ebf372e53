"""Readers stop at their cap while reading, whatever the input is (docs/security.md): one
overlong `match` line, `--config`/`--targets-file` naming /dev/zero, a deeply nested TOML
config, nmap XML from a FIFO, full of non-host elements or with very many hosts. Peak memory
is the child's own, from wait4 (not pytest's), and each child runs under an address-space
limit so a regression fails the test instead of the machine."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from camaudit.imports import nmap_xml

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
CEILING_KIB = 200 * 1024
ADDRESS_SPACE_LIMIT = 3 << 30
GOOD_LINE = b'{"v":1,"ip":"198.18.0.9","source":"http","port":80,"data":{"headers":{"Server":"nginx"}}}\n'


# A small Python process starts camaudit and reports the child's peak RSS. Measured straight
# from pytest, the child's ru_maxrss would include the pages of the (large) pytest process it
# was forked from before exec, which grows over a whole test session.
MEASURE = """
import os, resource, sys
limit, report, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as fh:
    fh.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(args: list[str], workdir: Path, stdin: IO[bytes] | int = subprocess.DEVNULL) -> tuple[int, str, str, int]:
    """`camaudit ARGS` under an address-space limit: exit code, stdout, stderr, peak RSS in KiB."""
    out_path, err_path, rss_path = workdir / "out.txt", workdir / "err.txt", workdir / "rss.txt"
    with out_path.open("w") as out, err_path.open("w") as err:
        code = subprocess.run([sys.executable, "-c", MEASURE, str(ADDRESS_SPACE_LIMIT), str(rss_path),
                               CAMAUDIT, *args], stdin=stdin, stdout=out, stderr=err, timeout=600).returncode
    return code, out_path.read_text(), err_path.read_text(), int(rss_path.read_text())


def test_match_skips_an_overlong_line_without_holding_it(tmp_path: Path) -> None:
    """A 300 MB line (no newline until its end) then a good one: the good one is matched."""
    feeder = subprocess.Popen(["sh", "-c", "head -c 300000000 /dev/zero | tr '\\0' a; echo; cat"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert feeder.stdin is not None and feeder.stdout is not None
    feeder.stdin.write(GOOD_LINE)
    feeder.stdin.close()
    code, out, err, peak = run(["match", "-"], tmp_path, stdin=feeder.stdout)
    feeder.stdout.close()
    feeder.wait()
    assert code in (0, 1), err
    assert "198.18.0.9" in out
    assert "line 1: line longer than" in err and "Traceback" not in err
    assert peak < CEILING_KIB, f"peak RSS {peak} KiB"


def test_match_gives_up_on_an_endless_line(tmp_path: Path) -> None:
    """/dev/zero never ends a line: match skips up to its limit, says so, and stops."""
    code, _, err, peak = run(["match", "/dev/zero"], tmp_path)
    assert code == 2, err
    assert "line 1: no line end within 1 GiB" in err and "Traceback" not in err
    assert peak < CEILING_KIB, f"peak RSS {peak} KiB"


@pytest.mark.parametrize("option", ["--config", "--targets-file"])
def test_dev_zero_as_config_or_targets_file_is_refused(tmp_path: Path, option: str) -> None:
    code, _, err, peak = run(["scan", option, "/dev/zero", "--no-store", "198.18.0.1"], tmp_path)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "/dev/zero" in err and "larger than" in err
    assert peak < CEILING_KIB, f"peak RSS {peak} KiB"


def test_deeply_nested_config_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "deep.toml"
    config.write_text("targets = " + "[" * 200_000 + "]" * 200_000 + "\n")
    code, _, err, peak = run(["scan", "--config", str(config), "--no-store", "198.18.0.1"], tmp_path)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "nests" in err and "Traceback" not in err
    assert peak < CEILING_KIB, f"peak RSS {peak} KiB"


def test_nmap_xml_from_a_fifo_is_capped_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stat() of a FIFO says 0 bytes; the cap must count what is read."""
    monkeypatch.setattr(nmap_xml, "MAX_FILE_BYTES", 1 << 20)
    fifo = tmp_path / "scan.xml"
    os.mkfifo(fifo)
    host = b'<host><status state="up"/><address addr="198.18.0.5" addrtype="ipv4"/></host>\n'

    def feed() -> None:
        try:
            with fifo.open("wb") as fh:
                fh.write(b"<nmaprun>\n" + host * (4 * (1 << 20) // len(host)) + b"</nmaprun>\n")
        except BrokenPipeError:  # the reader stopped at its cap, as it should
            pass

    writer = threading.Thread(target=feed)
    writer.start()
    with pytest.raises(nmap_xml.NmapXmlError, match=r"more than the 1048576-byte cap") as caught:
        list(nmap_xml.read_file(fifo))
    writer.join()
    assert "\n" not in str(caught.value)


def test_nmap_import_frees_elements_that_are_not_hosts(tmp_path: Path) -> None:
    xml = tmp_path / "progress.xml"
    with xml.open("wb") as fh:
        fh.write(b'<nmaprun><host><status state="up"/><address addr="198.18.0.5" addrtype="ipv4"/>'
                 b'<address addr="02:cb:00:00:00:05" addrtype="mac"/></host>\n')
        chunk = b'<taskprogress task="SYN Stealth Scan" percent="1.00"/>\n' * 10_000
        for _ in range(300):
            fh.write(chunk)
        fh.write(b"</nmaprun>\n")
    code, out, err, peak = run(["import", "nmap", str(xml)], tmp_path)
    assert code == 0, err
    assert '"198.18.0.5"' in out
    assert peak < CEILING_KIB, f"peak RSS {peak} KiB"


def test_nmap_import_memory_does_not_grow_with_hosts(tmp_path: Path) -> None:
    xml = tmp_path / "many.xml"
    with xml.open("wb") as fh:
        fh.write(b"<nmaprun>\n")
        for i in range(150_000):
            fh.write(b'<host><status state="up"/><address addr="10.%d.%d.%d" addrtype="ipv4"/>'
                     b'<address addr="02:cb:00:%02x:%02x:%02x" addrtype="mac"/><ports>'
                     b'<port protocol="tcp" portid="80"><state state="open"/><service name="http" '
                     b'product="Hikvision IP camera httpd"><cpe>cpe:/h:hikvision:ip_camera</cpe></service></port>'
                     b'</ports></host>\n' % (i >> 16, (i >> 8) & 255, i & 255, i >> 16, (i >> 8) & 255, i & 255))
        fh.write(b"</nmaprun>\n")
    code, _, err, peak = run(["import", "nmap", str(xml), "-o", str(tmp_path / "obs.jsonl")], tmp_path)
    assert code == 0, err
    assert "300000 observations" in err
    assert peak < 100 * 1024, f"peak RSS {peak} KiB"

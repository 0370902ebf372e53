"""What reaches a real terminal: exports and listings with stdout on a pseudo-terminal.

A device whose model holds ESC[2J (clear screen), the one-byte C1 CSI 0x9b and the bidi
override U+202E is stored in a real SQLite inventory; `camaudit` runs as a subprocess with
stdout on the slave side of `os.openpty()` and the test reads what the terminal would get
from the master. The terminal must see escapes (`\\x1b`, `\\x9b`, `\\u202e`, the form
docs/exports.md describes), never the raw characters; a pipe gets the data unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from camaudit.identify import Identification

HOSTILE_MODEL = "DS-2CD\x1b[2J\x9bX\u202eevil"
RAW = ("\x1b", "\x9b", "\u202e")
ESCAPED = ("\\x1b[2J", "\\x9b", "\\u202e")


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    from camaudit.db.store import Store
    from camaudit.policy import load_policies

    url = f"sqlite:///{tmp_path_factory.mktemp('tty') / 'inv.sqlite3'}"
    policies = list(load_policies(None))
    with Store(url) as store:
        scan_id = store.begin_scan(["198.18.0.0/24"], "hq", policies, "test", None)
        store.record_identifications(scan_id, [Identification(
            ip="198.18.0.10", mac="c0:56:e3:00:00:10", vendor="Hikvision", model=HOSTILE_MODEL,
            flagged=True, policies=[policies[0].id], confidence=0.9, evidence=[])],
            covered=["198.18.0.0/24"])
        store.finish_scan(scan_id, "complete")
    return url


def _on_pty(*args: str) -> str:
    """Run camaudit with stdout on a pseudo-terminal; what the terminal received, decoded."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "camaudit", *args], stdout=slave,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env={**os.environ, "CAMAUDIT_CONFIG": "/dev/null", "COLUMNS": "300"})
    finally:
        os.close(slave)
    received = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode in (0, 1), stderr
    return received.decode("utf-8", "replace")


def _piped(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "camaudit", *args], capture_output=True, timeout=120,
                          env={**os.environ, "CAMAUDIT_CONFIG": "/dev/null"})
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout.decode("utf-8")


@pytest.mark.parametrize("command", [("export", "-f", "csv"), ("export", "-f", "json"),
                                     ("export", "-f", "html"), ("findings",), ("findings", "--json"),
                                     ("assets",), ("assets", "--json"), ("report",)],
                         ids=lambda c: "-".join(c))
def test_a_terminal_gets_escapes_never_raw_controls(db: str, command: tuple[str, ...]) -> None:
    screen = _on_pty(*command, "--db", db)
    assert "DS-2CD" in screen
    for raw in ("\x1b[2J", *RAW[1:]):
        assert raw not in screen, (raw, screen)
    if command[0] != "report":  # rich styles the summary's titles with its own ESC sequences
        assert "\x1b" not in screen, screen
    if command[0] != "report":  # the summary table clips long models: its escapes may be cut
        json_escaped = "--json" in command or "json" in command  # JSON writes ESC as \u001b itself
        for escaped in ESCAPED:
            assert (escaped.replace("\\x1b", "\\u001b") if json_escaped else escaped) in screen, screen
    assert "DS-2CD?" not in screen  # the old `?` substitution is gone


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_pipe_gets_the_export_unchanged(db: str, fmt: str) -> None:
    data = _piped("export", "-f", fmt, "--db", db)
    assert HOSTILE_MODEL.replace("\x1b", "\\u001b" if fmt == "json" else "\x1b") in data
    if fmt == "json":
        assert json.loads(data)["devices"][0]["model"] == HOSTILE_MODEL


def test_terminal_writer_keeps_csv_line_ends_and_split_characters(tmp_path: Path) -> None:
    import io

    from camaudit.report.sanitize import TerminalWriter

    out = io.BytesIO()
    writer = TerminalWriter(out)
    for chunk in (b"a,b\r", b"\nx\xc3", b"\xa9\r\x1b", b"]0;t\x07\r\n"):  # \r\n and é split over writes
        writer.write(chunk)
    writer.flush()
    assert out.getvalue().decode() == "a,b\nx\u00e9\\x0d\\x1b]0;t\\x07\n"


def test_json_lines_to_a_terminal_get_escapes_and_to_a_pipe_stay_as_sent(tmp_path: Path) -> None:
    """`match` and `import nmap` write JSON Lines; JSON leaves C1 and bidi characters raw."""
    obs = tmp_path / "obs.jsonl"
    obs.write_text(json.dumps({"v": 1, "ip": "198.18.0.10", "source": "http", "port": 80,
                               "data": {"headers": {"Server": "App-webs/\x9b\u202eevil"}}}) + "\n")
    xml = tmp_path / "scan.xml"
    xml.write_text('<nmaprun><host><status state="up"/><address addr="198.18.0.10" addrtype="ipv4"/>'
                   '<ports><port protocol="tcp" portid="80"><state state="open"/>'
                   '<service name="http" product="cam\u009b\u202eevil"/></port></ports></host></nmaprun>',
                   encoding="utf-8")
    for command in (("match", str(obs)), ("import", "nmap", str(xml))):
        screen = _on_pty(*command)
        assert "198.18.0.10" in screen
        assert "\x9b" not in screen and "\u202e" not in screen, screen
        assert "\\x9b" in screen and "\\u202e" in screen, screen
    piped = _piped("import", "nmap", str(xml))
    assert "\x9b" in piped and "\u202e" in piped

"""The top-level group loads each command's module on demand: its table must name every command."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import click

import camaudit.cli as cli
from camaudit.report import EXPORTERS


def _registered() -> dict[str, str]:
    """Every command each cli module registers, by the module that registers it."""
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(cli.__path__):
        module = importlib.import_module(f"camaudit.cli.{info.name}")
        if hasattr(module, "register"):
            group = click.Group()
            module.register(group)
            found.update(dict.fromkeys(group.commands, info.name))
    return found


def test_command_table_names_every_command_and_its_module() -> None:
    assert cli.COMMAND_MODULES == _registered()


def test_every_command_resolves_through_the_lazy_group() -> None:
    ctx = click.Context(cli.main)
    for name in cli.main.list_commands(ctx):
        command = cli.main.get_command(ctx, name)
        assert command is not None and command.name == name


def test_version_imports_no_command_module() -> None:
    """`camaudit --version` loads neither the engine, the store nor any exporter library."""
    probe = ("import sys, runpy; sys.argv = ['camaudit', '--version']\n"
             "try:\n    runpy.run_module('camaudit', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "heavy = [m for m in ('camaudit.engine', 'camaudit.db.store', 'sqlalchemy', 'scapy', 'jinja2',\n"
             "                     'xlsxwriter', 'camaudit.cli.scan') if m in sys.modules]\n"
             "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out


def test_exporter_registry_names_match_their_exporters() -> None:
    assert list(EXPORTERS) == ["html", "csv", "json", "xlsx"]
    for name in EXPORTERS:
        assert EXPORTERS[name].name == name


def test_a_scan_into_sqlite_loads_neither_cryptography_nor_the_postgresql_dialect(tmp_path) -> None:
    """The store on SQLite and every probe's module, as a scan loads them, without the
    libraries only an SNMPv3 user with privacy or a PostgreSQL inventory needs (≈ 120 ms).
    The inventory is at head already, as a cron scan's is (creating one runs Alembic, whose
    DDL modules load every dialect)."""
    from camaudit.db.store import Store

    Store(f"sqlite:///{tmp_path / 'inventory.db'}").close()
    probe = ("import sys\n"
             "from camaudit.db.store import Store\n"
             "from camaudit.engine import available_probes\n"
             "available_probes()\n"
             f"Store('sqlite:///{tmp_path / 'inventory.db'}').close()\n"
             "print('HEAVY', [m for m in ('cryptography', 'sqlalchemy.dialects.postgresql') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out


def test_a_non_blocking_stdout_loses_nothing(tmp_path) -> None:
    """A parent may hand down a non-blocking pipe (the flag is shared with it): once the pipe
    is full, camaudit waits for the reader instead of dropping the rest of its output."""
    import json
    import os
    import time

    lines = [json.dumps({"v": 1, "source": "http", "ip": f"198.18.{i // 250}.{i % 250 + 1}", "port": 80,
                         "status": "ok", "data": {"path": "/", "status": 200, "headers": {"Server": "App-webs/"}}})
             for i in range(1500)]
    observations = tmp_path / "many.jsonl"
    observations.write_text("\n".join(lines) + "\n")
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    camaudit = str(Path(sys.executable).with_name("camaudit"))
    proc = subprocess.Popen([camaudit, "match", str(observations)], stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    time.sleep(1.0)   # the reader is late: camaudit fills the pipe's 64 KiB long before this
    with os.fdopen(read_end, "rb") as pipe:
        out = pipe.read()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 1), err
    assert len(out) > 1 << 16 and len(out.splitlines()) == 1500, (len(out), err[-500:])


def test_a_reader_that_leaves_early_ends_the_command_quietly(tmp_path) -> None:
    """`camaudit match FILE | head`: the closed pipe is a runtime exit with one line, not a
    traceback reported as a camaudit bug."""
    import os

    observations = tmp_path / "one.jsonl"
    observations.write_text('{"v": 1, "source": "http", "ip": "198.18.0.10", "port": 80, "status": "ok", '
                            '"data": {"path": "/", "status": 200}}\n')
    read_end, write_end = os.pipe()
    os.close(read_end)   # the reader is gone before the first line
    camaudit = str(Path(sys.executable).with_name("camaudit"))
    proc = subprocess.run([camaudit, "match", str(observations)], stdout=write_end, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    os.close(write_end)
    assert proc.returncode == 3, proc.stderr
    assert "broken pipe" in proc.stderr and "Traceback" not in proc.stderr and "bug" not in proc.stderr

"""The top-level group loads each command's module on demand: its table must name every command."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

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

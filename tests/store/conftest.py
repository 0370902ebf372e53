"""Fixtures of the store suite: one throwaway PostgreSQL cluster per session, and a `store`
fixture parametrized over SQLite and that PostgreSQL so every store test runs on both."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from camaudit.db.store import Store
from camaudit.identify import Identification

PG_BIN = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
               if (p / "initdb").exists()), None) if Path("/usr/lib/postgresql").exists() else None
_db_counter = itertools.count()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL cluster on 127.0.0.1 only, in a temp dir; yields the server URL prefix."""
    if PG_BIN is None:
        pytest.skip("PostgreSQL server binaries are absent (make test installs the Debian package)")
    if os.geteuid() != 0:
        pytest.skip("starting a throwaway PostgreSQL cluster needs root (to run it as user postgres)")
    tmp = Path(tempfile.mkdtemp(prefix="ca-pg-"))
    shutil.chown(tmp, "postgres", "postgres")
    data, port = tmp / "data", _free_port()
    _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8"])
    _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"), "-w", "-o",
                  f"-k {tmp} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c max_connections=100", "start"])
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(tmp, ignore_errors=True)


def new_pg_database(server: str) -> str:
    """A fresh, empty database on the session cluster; returns its URL."""
    import psycopg

    name = f"camaudit_test_{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    return new_pg_database(request.getfixturevalue("pg_server"))


class Clock:
    """A settable clock: lifecycle tests move time (risk expiry) without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)   # every call is later: events stay ordered
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db_url: str, clock: Callable[[], datetime]) -> Iterator[Store]:
    s = Store(db_url, clock=clock)
    yield s
    s.close()


HIKVISION_CAMERA: dict[str, Any] = {
    "vendor": "Hikvision", "brand": "Hikvision", "model": "DS-2CD2032-I", "firmware": "V5.4.5",
    "device_type": "camera", "flagged": True, "policies": ["us-ndaa-889"], "confidence": 0.95,
    "evidence": [{"source": "sadp", "port": 37020, "fingerprint": "hikvision-sadp-devicetype",
                  "field": "DeviceType", "value": "DS-2CD2032-I", "weight": 0.9, "vendor": "Hikvision"}]}


def identification(ip: str | None, mac: str | None = None, *, vendor: str | None, flagged: bool,
                   policies: list[str], **fields: Any) -> Identification:
    """An identification as camaudit.identify produces it (the store reads nothing else), with
    what decides its findings (vendor, flagged, policies) named at every call."""
    return Identification(ip=ip, mac=mac, vendor=vendor, flagged=flagged, policies=list(policies),
                          **fields)


def flagged_hikvision(ip: str | None, mac: str | None = None, **changes: Any) -> Identification:
    """The store tests' usual device: HIKVISION_CAMERA at `ip`/`mac`, `changes` replacing fields."""
    fields = {**HIKVISION_CAMERA, **changes}
    fields["policies"] = list(fields["policies"])
    fields["evidence"] = [dict(e) for e in fields["evidence"]]
    return identification(ip, mac, **fields)


def _scan(store: Store, idents: list[Identification], *, site: str | None = "hq",
         covered: tuple[str, ...] = ("198.18.0.0/24",), status: str = "complete") -> int:
    """One whole scan as the scan command runs it; returns the scan id."""
    sid = store.begin_scan(list(covered), site, ["us-ndaa-889"], "test", "fp-test")
    store.record_identifications(sid, idents, list(covered))
    store.finish_scan(sid, status)
    return sid


@pytest.fixture(name="identification")
def identification_factory() -> Callable[..., Identification]:
    return identification


@pytest.fixture(name="flagged_hikvision")
def flagged_hikvision_factory() -> Callable[..., Identification]:
    return flagged_hikvision


@pytest.fixture
def run_scan() -> Callable[..., int]:
    return _scan

"""Fixtures of the store suite: one throwaway PostgreSQL cluster per session, and a `store`
fixture parametrized over SQLite and that PostgreSQL so every store test runs on both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from camaudit.db.store import Store
from camaudit.lab import pgcluster
from camaudit.lab.pgcluster import Cluster
from camaudit.identify import Identification


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the session (scanner/lab/pgcluster.py)."""
    reason = pgcluster.unavailable_reason()
    if reason:
        pytest.skip(reason)
    with pgcluster.throwaway_cluster() as cluster:
        yield cluster


def new_pg_database(server: Cluster) -> str:
    """A fresh, empty database on the session cluster; returns its URL."""
    return f"{server.url}/{server.new_database()}"


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

"""Shared lab fixtures (owned by the lab area; see docs/lab.md).

* `lab` — one session-wide lab of every shipped persona, named `t<pid>` so parallel runs
  never collide. Torn down at session end, also when tests fail.
* `lab6` — one session-wide dual-stack lab: the IPv6 personas (personas/ipv6/) and the
  IPv4 reference camera, with the IPv6 plan of docs/lab.md.
* `lab_factory` — for tests that need their own lab (other personas, a fleet, removal):
  `lab_factory(only=[...], count=N, extra_personas=[...])` returns an up `Lab`; every lab it
  made is torn down when the test ends.

Every lab is also registered with `atexit`, so an interrupted run (Ctrl-C, a crash inside
pytest) still deletes its namespaces and stops its server.
"""

from __future__ import annotations

import atexit
import itertools
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

NOT_ROOT = "lab tests build network namespaces: run them as root"


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip(NOT_ROOT)


_live: dict[str, Any] = {}  # labs made by this process and not yet removed


def _teardown(lab: Any) -> None:
    """Remove a lab; used by finalizers and atexit, so it must never raise."""
    try:
        lab.down()
    except Exception as exc:  # report, but let the other labs be removed too
        print(f"warning: removing lab {lab.name!r} failed: {exc}")
    _live.pop(lab.name, None)


@atexit.register
def _teardown_leftovers() -> None:
    """An interrupted run (Ctrl-C, a crash) still deletes its namespaces and stops its servers."""
    for leftover in list(_live.values()):
        _teardown(leftover)


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _up(lab: Any, **up_kwargs: Any) -> Any:
    # SIGTERM (a CI timeout, `kill`) would end Python without atexit; turn it into the
    # KeyboardInterrupt of Ctrl-C so finalizers and atexit still remove the lab.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    _live[lab.name] = lab  # before up(): a half-built lab is removed too
    lab.up(**up_kwargs)
    return lab


@pytest.fixture(scope="session")
def lab() -> Iterator[Any]:
    """The shared lab: all shipped personas (scanner at 198.18.0.1 in `lab.scanner_ns`)."""
    _require_root()
    from camaudit.lab import Lab

    shared = Lab(f"t{os.getpid()}")
    try:
        yield _up(shared)
    finally:
        _teardown(shared)


@pytest.fixture(scope="session")
def lab6() -> Iterator[Any]:
    """The shared dual-stack lab (scanner also at fdca:a0d1::1): the IPv6 personas and hikvision-camera."""
    _require_root()
    from camaudit.lab import Lab
    from camaudit.lab.persona import load_many, shipped_paths

    ids = [p.id for p in load_many(shipped_paths(ipv6=True)) if p.ipv6] + ["hikvision-camera"]
    shared = Lab(f"s{os.getpid()}")
    try:
        yield _up(shared, only=ids, ipv6=True)
    finally:
        _teardown(shared)


_serial = itertools.count()


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., Any]]:
    """Make extra labs for one test: `lab_factory(only=[...], count=None, extra_personas=())`."""
    _require_root()
    from camaudit.lab import Lab

    made: list[Any] = []

    def make(**up_kwargs: Any) -> Any:
        new = Lab(f"f{os.getpid() % 100000}x{next(_serial)}")
        made.append(new)
        return _up(new, **up_kwargs)

    try:
        yield make
    finally:
        for each in reversed(made):
            _teardown(each)

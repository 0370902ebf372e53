"""One lab for the engine's lab tests, named per test run so parallel engineers never collide.

The engine tests need the whole persona set (local, routed, decoys, SADP/DHIP devices) and
compare scans against `lab.truth()`; building it once per session keeps the area fast.
Teardown is by the lab's exact recorded names, also when a test fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from camaudit.engine import ScanOutcome, ScanPlan
from camaudit.engine import scan as engine_scan
from camaudit.targets import build_targets

LOCAL, ROUTED = "198.18.0.0/24", "198.18.1.0/24"


@pytest.fixture(scope="session")
def elab() -> Iterator[Any]:
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces)")
    from camaudit.lab.control import Lab

    lab = Lab(f"eng{os.getpid() % 100000}")
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def scan_in(lab: Any, specs: list[str], excludes: list[str] = (), **plan: Any) -> ScanOutcome:
    """Run the engine inside the lab's scanner namespace (this thread enters it)."""
    targets = build_targets(specs, excludes=list(excludes))
    with lab.in_scanner_ns():
        return engine_scan(ScanPlan(targets=targets, **plan))


@pytest.fixture(scope="session")
def scan() -> Any:
    return scan_in

"""Fixtures of the identification tests: the shipped data, isolated from the user's OUI refreshes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scanner.fingerprints import FingerprintSet, load_fingerprints
from scanner.observation import Observation


@pytest.fixture(scope="session")
def fset(tmp_path_factory: pytest.TempPathFactory) -> FingerprintSet:
    """Shipped fingerprints + OUI layers, with an empty user data dir (no refreshed registry)."""
    return load_fingerprints(Path(tmp_path_factory.mktemp("no-user-oui")))


def obs(source: str, data: dict[str, Any] | None = None, *, ip: str | None = "198.18.0.10",
        mac: str | None = None, port: int | None = None, status: str = "ok") -> Observation:
    """An observation as a probe would emit it (dict round trip, so the JSON contract is used)."""
    return Observation.from_dict({"v": 1, "ip": ip, "mac": mac, "source": source, "port": port,
                                  "status": status, "data": data or {}})

"""Fixtures of the identification tests: the shipped data, isolated from the user's OUI refreshes."""

from __future__ import annotations

from pathlib import Path

import pytest

from camaudit.fingerprints.loader import load_fingerprints
from camaudit.fingerprints.matcher import FingerprintSet


@pytest.fixture(scope="session")
def fset(tmp_path_factory: pytest.TempPathFactory) -> FingerprintSet:
    """Shipped fingerprints + OUI layers, with an empty user data dir (no refreshed registry)."""
    return load_fingerprints(Path(tmp_path_factory.mktemp("no-user-oui")))

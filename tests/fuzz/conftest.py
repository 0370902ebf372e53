"""The fuzz input counter of tests/fuzz.

`make test` runs the short default (CAMAUDIT_FUZZ_EXAMPLES unset: 200 examples per property,
set in the test module); `make fuzz` sets CAMAUDIT_FUZZ_EXAMPLES=20000. Every property counts the inputs it really ran,
and the session total is appended to $CAMAUDIT_FIGURES (JSON Lines) when that is set, so the
report can quote "fuzz inputs executed" from a run instead of from the settings.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

EXECUTED: Counter[str] = Counter()


@pytest.fixture(scope="session")
def executed() -> Counter[str]:
    """`executed[parser] += 1` once per input a property ran."""
    return EXECUTED


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("CAMAUDIT_FIGURES")
    if path and EXECUTED:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"test": "fuzz", "examples_setting": int(os.environ.get("CAMAUDIT_FUZZ_EXAMPLES", "200")),
                                 "inputs_executed": sum(EXECUTED.values()),
                                 "per_parser": dict(sorted(EXECUTED.items()))}) + "\n")

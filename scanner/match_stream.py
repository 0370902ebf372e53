"""Streaming a match: identifications written as they are made, with the collector paused,
and how lines of an observation file that were skipped are reported.

Shared by `camaudit match`, `camaudit rematch`, `camaudit ingest` and the match benchmark,
which must measure exactly what the command does.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from camaudit.tiers import counts_for_exit

if TYPE_CHECKING:
    from camaudit.identify import Matcher
    from camaudit.observation import ReadError

MAX_REPORTED_BAD_LINES = 5


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block without Python's cyclic garbage collector (as it was before, after).

    A match keeps per device small dicts and tuples that never form cycles (reference
    counting frees them), yet the collector rescans all of them each time the heap grows by
    a quarter: 15 % of `camaudit match` on a million lines. Cycles made meanwhile are
    collected once it runs again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def write_identifications(matcher: Matcher, out: IO[str]) -> tuple[int, bool]:
    """Write one identification per device as JSON Lines: (devices written, whether one is
    flagged with a tier that counts for exit code 1, i.e. not `possible`)."""
    devices, flagged = 0, False
    for ident in matcher.identifications():
        out.write(ident.to_json())
        out.write("\n")
        devices += 1
        flagged = flagged or (ident.flagged and counts_for_exit(ident.tier))
    out.flush()
    return devices, flagged


def skipped_lines(errors: list[ReadError]) -> str:
    """One line naming the first few lines that are not observations, and how many in all."""
    shown = "; ".join(f"line {e.line}: {e.reason}" for e in errors[:MAX_REPORTED_BAD_LINES])
    more = f" (and {len(errors) - MAX_REPORTED_BAD_LINES} more)" if len(errors) > MAX_REPORTED_BAD_LINES else ""
    return f"skipped {len(errors)} line(s) that are not observations: {shown}{more}"

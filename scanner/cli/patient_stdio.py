"""Standard streams that wait for a full pipe instead of losing what did not fit.

A parent can hand camaudit a non-blocking stdout: the flag belongs to the pipe's open file,
which is shared, and some supervisors and CI runners set it on their own end. Python's
streams then raise BlockingIOError once the pipe holds 64 KiB the reader has not taken yet,
and the rest of a report or of `match` output was lost without an error. The streams below
wait until the pipe has room, as they would on a blocking descriptor. The descriptor's flag
is left alone: the parent shares it and may rely on it.
"""

from __future__ import annotations

import io
import os
import select
import sys


class _PatientFile(io.RawIOBase):
    """A raw writer on `fd` that waits for room (select) when a write would block."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            try:
                return os.write(self._fd, data)
            except BlockingIOError:
                select.select([], [self._fd], [])

    def close(self) -> None:   # the descriptor is the process's stdout/stderr: never closed here
        super().close()


def install() -> None:
    """Replace sys.stdout / sys.stderr by patient streams where their descriptor is
    non-blocking (same encoding, error handler and line buffering); otherwise leave them."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            fd = stream.fileno()
            if os.get_blocking(fd):
                continue
        except (AttributeError, OSError, ValueError):   # no descriptor (tests, closed stream)
            continue
        stream.flush()
        patient = io.TextIOWrapper(io.BufferedWriter(_PatientFile(fd)), encoding=stream.encoding,
                                   errors=stream.errors, line_buffering=stream.line_buffering)
        setattr(sys, name, patient)

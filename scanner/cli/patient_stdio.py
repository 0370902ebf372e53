"""Standard streams that wait for a full pipe instead of losing what did not fit.

A pipe can be non-blocking without camaudit asking: the flag belongs to the pipe's open
file, which the process shares with whoever else holds it, and some supervisors and CI
runners set it on their end. Python's streams then raise BlockingIOError once the pipe holds
64 KiB the reader has not taken yet; `camaudit match` wrote 57 KiB of 1.2 MB and exited
normally, and a `scan --json` report was cut at exactly 64 KiB. The streams below wait
until the pipe has room, whenever the flag was set. The descriptor's flag is left alone:
whoever set it may rely on it.
"""

from __future__ import annotations

import io
import os
import select
import sys


class _PatientFile(io.RawIOBase):
    """A raw writer on `fd` that waits for room (select) when a write would block. Closing
    it leaves the descriptor open: it is the process's stdout or stderr."""

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


def install() -> None:
    """Replace sys.stdout / sys.stderr by patient streams with the same encoding, error
    handler and line buffering. Always, not only when the flag is set now: another holder of
    the pipe can set it while camaudit runs, and a write through the patient stream costs
    one Python call per 8 KiB flushed."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):   # no descriptor (tests, closed stream)
            continue
        stream.flush()
        patient = io.TextIOWrapper(io.BufferedWriter(_PatientFile(fd)), encoding=stream.encoding,
                                   errors=stream.errors, line_buffering=stream.line_buffering)
        setattr(sys, name, patient)

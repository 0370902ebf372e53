"""Reading untrusted files with a byte cap enforced while reading, whatever the file is.

A size check on `stat()` says nothing about a FIFO, /dev/zero or a file that grows while
it is read, so every cap here counts the bytes actually read and stops at the cap.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO


class TooLarge(ValueError):
    """More than `cap` bytes were offered."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"more than the {cap}-byte cap")
        self.cap = cap


def read_capped(path: str | Path, cap: int) -> bytes:
    """The whole file, at most `cap` bytes of it; TooLarge (after reading cap + 1 bytes) when
    there is more. OSError when it cannot be opened or read."""
    with open(path, "rb") as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise TooLarge(cap)
    return data


class CappedStream:
    """A binary stream that raises TooLarge once more than `cap` bytes have been read from it
    (for incremental parsers such as `iterparse`, which only call `read(size)`)."""

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        self._stream, self.cap, self.taken = stream, cap, 0

    def read(self, size: int = -1) -> bytes:
        want = self.cap + 1 - self.taken if size is None or size < 0 else min(size, self.cap + 1 - self.taken)
        data = self._stream.read(max(want, 1))
        self.taken += len(data)
        if self.taken > self.cap:
            raise TooLarge(self.cap)
        return data

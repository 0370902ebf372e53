"""Helpers for the passive tests (pytest runs with --import-mode=importlib: shared code is a fixture)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

import pytest


def pcapng_bytes(frames: Iterable[bytes | tuple[float, bytes]], endian: str = "<", tsresol: int | None = None,
                 linktype: int = 1) -> bytes:
    """A pcapng file written by hand (section header, one interface, enhanced packet blocks),
    after draft-ietf-opsawg-pcapng; a frame without a time gets 1,700,000,000 + its index."""
    def block(kind: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack(endian + "II", kind, len(body) + 12) + body + struct.pack(endian + "I", len(body) + 12)
    shb = block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    options = b"" if tsresol is None else struct.pack(endian + "HH", 9, 1) + bytes([tsresol, 0, 0, 0]) + b"\x00" * 4
    out = [shb, block(1, struct.pack(endian + "HHI", linktype, 0, 262144) + options)]
    tick = 1e-6 if tsresol is None else 10.0 ** -tsresol
    for i, item in enumerate(frames):
        when, frame = item if isinstance(item, tuple) else (1_700_000_000 + i, item)
        ts = round(when / tick)
        out.append(block(6, struct.pack(endian + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame))
    return b"".join(out)


@pytest.fixture
def pcapng() -> Callable[..., bytes]:
    return pcapng_bytes

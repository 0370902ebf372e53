"""IP fragment reassembly, bounded: discovery answers larger than the MTU arrive in pieces.

A WS-Discovery ProbeMatch of a camera is often 1.5-3 KB, so it crosses the wire as two or
three IPv4 fragments, and only the reassembled datagram can be read. Pending datagrams are
capped in number, bytes and fragments, and expire after `MAX_AGE` seconds of capture time;
overlapping fragments (RFC 5722 forbids them for IPv6; they are an old evasion trick for IPv4)
and datagrams beyond 65,535 bytes are dropped whole.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MAX_PENDING = 256             # datagrams being reassembled at once
MAX_PENDING_BYTES = 4 << 20   # bytes held across them
MAX_FRAGMENTS = 64            # per datagram
MAX_DATAGRAM = 65_535
MAX_AGE = 30.0                # seconds (RFC 791 suggests a reassembly timeout of 15 s or more)

Key = tuple[str, str, int, int]   # source, destination, identification, protocol


@dataclass(slots=True)
class _Pending:
    first_ts: float
    pieces: list[tuple[int, bytes]] = field(default_factory=list)
    total: int | None = None   # known once the last fragment (more-fragments clear) came
    size: int = 0


class Defragmenter:
    """Collects fragments; `add` returns the whole transport payload once it is complete."""

    def __init__(self) -> None:
        self._pending: dict[Key, _Pending] = {}
        self._bytes = 0

    def add(self, key: Key, ts: float, offset: int, more: bool, data: bytes,
            drops: Counter[str] | None) -> bytes | None:
        pending = self._pending.get(key)
        if pending is None:
            self._expire(ts)
            if len(self._pending) >= MAX_PENDING or self._bytes + len(data) > MAX_PENDING_BYTES:
                self._drop_oldest(drops)
            pending = self._pending[key] = _Pending(ts)
        if any(have == offset for have, _ in pending.pieces):
            return None   # a repeated fragment: the first copy stands
        end = offset + len(data)
        if end > MAX_DATAGRAM or len(pending.pieces) >= MAX_FRAGMENTS or (not more and pending.total is not None):
            self._forget(key, drops, "fragment-bad")
            return None
        if not more:
            pending.total = end
        pending.pieces.append((offset, data))
        pending.size += len(data)
        self._bytes += len(data)
        if pending.total is None or pending.size < pending.total:
            return None
        pieces = sorted(pending.pieces)
        self._forget(key, None, "")
        at = 0
        for piece_offset, piece in pieces:
            if piece_offset != at:   # overlap or hole with the sizes adding up: refused
                if drops is not None:
                    drops["fragment-overlap"] += 1
                return None
            at += len(piece)
        return b"".join(piece for _, piece in pieces) if at == pending.total else None

    def _forget(self, key: Key, drops: Counter[str] | None, reason: str) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._bytes -= pending.size
            if drops is not None and reason:
                drops[reason] += 1

    def _drop_oldest(self, drops: Counter[str] | None) -> None:
        while self._pending and (len(self._pending) >= MAX_PENDING or self._bytes > MAX_PENDING_BYTES // 2):
            self._forget(next(iter(self._pending)), drops, "fragment-evicted")

    def _expire(self, now: float) -> None:
        while self._pending:
            key, oldest = next(iter(self._pending.items()))
            if now - oldest.first_ts <= MAX_AGE:
                return
            self._forget(key, None, "")

"""Plain data the scan layers hand each other: what discovery found, the bounds, a UDP reply.

Bottom layer (with camaudit.observation): discovery produces `Host`, probes consume it, the
engine and the context pass `Bounds` and `Datagram` along; none of them has to import
another layer to name these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A scan's defaults, here so the CLI can show them in --help without importing the engine.
DEFAULT_PORTS: tuple[int, ...] = (22, 23, 80, 443, 554, 8000, 8080, 8443, 37777)
DEFAULT_RATE = 2000.0        # discovery packets/connection attempts per second, whole scan
DEFAULT_PER_HOST = 2         # concurrent connections per device (gentle on embedded stacks)
DEFAULT_SWEEP_WAIT = 1.0     # seconds to collect multicast discovery replies


@dataclass(slots=True)
class Host:
    """A live address that discovery found, with what it learnt about it."""

    ip: str
    mac: str | None = None
    open_ports: frozenset[int] = field(default_factory=frozenset)


@dataclass(slots=True, frozen=True)
class Bounds:
    """Per-probe budgets: a misbehaving device costs at most this much."""

    connect_timeout: float = 1.0
    read_timeout: float = 2.0       # whole-answer budget, not per read
    max_bytes: int = 64 * 1024      # answers are truncated here and marked too-large
    max_header_bytes: int = 16 * 1024
    max_datagram_bytes: int = 16 * 1024


@dataclass(slots=True, frozen=True)
class Datagram:
    """One UDP reply collected by the context's `ask`."""

    ip: str
    port: int
    data: bytes
    truncated: bool = False  # longer than bounds.max_datagram_bytes; `data` is the first part

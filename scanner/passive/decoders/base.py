"""The one interface every passive decoder implements.

A decoder turns the packets of one protocol into observations with the same `source` and
`data` keys as the active probe of that protocol (docs/observations.md), so the shipped
fingerprints apply to what was heard as they do to what was asked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar

from camaudit.observation import Observation
from camaudit.passive.packet import Packet


class Decoder(ABC):
    """One protocol's decoder; instances may keep bounded state (flows, partial messages).

    `wants` must look only at `ethertype`, `proto`, `sport` and `dport`: the frame decoder
    remembers its answer per such combination instead of asking again for every packet.
    `feed` never raises on bad bytes: what cannot be read is dropped or becomes an
    observation whose status says why.
    """

    name: ClassVar[str]                       # e.g. "sadp", "dhcp", "http-stream"

    @abstractmethod
    def wants(self, pkt: Packet) -> bool:
        """True when `feed` should see this packet (ports / ethertype only)."""

    @abstractmethod
    def feed(self, pkt: Packet) -> Iterable[Observation]:
        """The observations this packet completes (often none)."""

    def finish(self) -> Iterable[Observation]:
        """End of capture: flush buffered state."""
        return ()

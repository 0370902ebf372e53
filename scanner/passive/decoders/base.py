"""The one interface every passive decoder implements.

A decoder turns the packets of one protocol into observations with the same `source` and
`data` keys as the active probe of that protocol (docs/observations.md), so the shipped
fingerprints apply to what was heard as they do to what was asked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import ClassVar

from camaudit.model import Datagram
from camaudit.observation import Observation, ProbeStatus
from camaudit.passive.packet import Packet


class Decoder(ABC):
    """One protocol's decoder; instances may keep bounded state (flows, partial messages).

    `wants` must look only at `ethertype`, `proto`, `sport` and `dport`: the frame decoder
    remembers its answer per such combination instead of asking again for every packet.
    `feed` never raises on bad bytes: what cannot be read is dropped or becomes an
    observation whose status says why. A decoder of datagrams (not TCP) must be stateless:
    the frame decoder feeds a repeated identical datagram only once.
    """

    name: ClassVar[str]                       # e.g. "sadp", "dhcp", "http-stream"
    unreadable: int = 0                       # packets it wanted but could not read (for the summary)

    @abstractmethod
    def wants(self, pkt: Packet) -> bool:
        """True when `feed` should see this packet (ports / ethertype only)."""

    @abstractmethod
    def feed(self, pkt: Packet) -> Iterable[Observation]:
        """The observations this packet completes (often none)."""

    def finish(self) -> Iterable[Observation]:
        """End of capture: flush buffered state."""
        return ()


class UdpPortDecoder(Decoder):
    """A decoder of one UDP protocol, told by its port on either side of the datagram."""

    ports: ClassVar[frozenset[int]]

    def wants(self, pkt: Packet) -> bool:
        return pkt.proto == 17 and (pkt.sport in self.ports or pkt.dport in self.ports)


def datagram(pkt: Packet) -> Datagram:
    """The packet as the active probes' parsers take a reply (sender address and port, payload)."""
    return Datagram(pkt.src_ip or "", pkt.sport or 0, pkt.payload)


class AnswerDecoder(UdpPortDecoder):
    """Datagrams read by an active probe's reply parser (`parse`); what it does not read as an
    ok observation (another client's search, garbage) is counted in `unreadable`, not kept:
    a search says nothing about its sender."""

    parse: ClassVar[Callable[[Datagram], Observation]]

    def feed(self, pkt: Packet) -> Iterable[Observation]:
        if pkt.src_ip is None:
            return ()
        obs = type(self).parse(datagram(pkt))
        if obs.status is not ProbeStatus.OK:
            self.unreadable += 1
            return ()
        return (obs,)

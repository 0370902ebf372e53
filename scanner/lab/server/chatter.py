"""Lab chatter: the announcements a device sends unasked, on its persona's schedule.

Each chattering device gets one send-only AF_PACKET socket on its own interface (protocol 0:
it receives nothing) and writes whole Ethernet frames, because two of the kinds are not
ordinary UDP from the device's address: a DHCP client speaks from 0.0.0.0 before it has an
address (RFC 2131 §4.1), and LLDP is not IP at all (IEEE 802.1AB). One frame builder for every
kind keeps them alike: the device's MAC as Ethernet source, the group's MAC (RFC 1112 §6.4)
or broadcast as destination. Rounds start 0.05-0.4 s after the lab is up (tests stay short)
and repeat every `interval` seconds ±10 %.

What is sent (docs/lab.md "Chatter"):

* `sadp` — the persona's `<ProbeMatch>` (Uuid: the device's own) to 239.255.255.250:37020 (the
  document Hikvision devices multicast, answered or not; julienblitte/UniversalScanner
  `Hikvision.cs`);
* `dhip` — `client.notifyDevInfo` without a request id to 239.255.255.251:37810;
* `wsd` — a WS-Discovery Hello (2005/04 §4.1, 1.1 §4.1) per version the persona speaks, to
  239.255.255.250:3702;
* `ssdp` — NOTIFY `ssdp:alive` (UPnP Device Architecture 1.1 §1.2.2) to 239.255.255.250:1900;
* `mdns` — an unsolicited announcement of all records (RFC 6762 §8.3) to 224.0.0.251:5353;
* `dhcp` — a DHCPDISCOVER and an INIT-REBOOT DHCPREQUEST (option 50: its address) from
  0.0.0.0:68 to 255.255.255.255:67 with options 53, 61, 12, 60, 55 (RFC 2131/2132);
* `lldp` — an LLDPDU to 01:80:c2:00:00:0e: chassis ID (MAC), port ID (interface name), TTL,
  system name, system description, management address (IPv4), end.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import socket
import struct
from collections.abc import Callable

from camaudit.lab.persona import Persona
from camaudit.lab.persona_chatter import DhcpClient, LldpAgent
from camaudit.lab.server import mdns, onvif, ssdp, udp, vendor

log = logging.getLogger("camaudit.lab.server")

BROADCAST = "255.255.255.255"
LLDP_DEST = ("01:80:c2:00:00:0e", 0)   # nearest-bridge group address: an LLDPDU, not UDP
LLDP_TTL = 120
FIRST_ROUND = (0.05, 0.4)              # seconds after start-up
JITTER = 0.1
SOURCE_PORT = {"sadp": vendor.SADP_PORT, "dhip": vendor.DHIP_PORT, "wsd": onvif.WSD_PORT,
               "ssdp": ssdp.PORT, "mdns": mdns.PORT, "dhcp": 68}
DHCP_COOKIE = b"\x63\x82\x53\x63"
MAX_PAYLOAD = {"udp": 1500 - 28, "lldp": 1500}        # one untagged Ethernet frame, no fragments
# IP TTL: mDNS 255 (RFC 6762 §11), SSDP 2 (UDA 1.1 §1.1.2), other multicast 1, broadcast 64
_TTL = {mdns.PORT: 255, ssdp.PORT: 2}


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _dest_mac(ip: str) -> bytes:
    """Broadcast, or the IPv4 multicast MAC of a group: 01:00:5e + its low 23 bits."""
    if ip == BROADCAST:
        return b"\xff" * 6
    packed = socket.inet_aton(ip)
    return b"\x01\x00\x5e" + bytes([packed[1] & 0x7F]) + packed[2:]


def udp_frame(src_mac: str, src_ip: str, sport: int, dest: tuple[str, int], payload: bytes) -> bytes:
    """An Ethernet/IPv4/UDP frame to a multicast group or broadcast (no fragmentation: the
    caller keeps the payload within one frame)."""
    dst_ip, dport = dest
    src, dst = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
    length = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_UDP, length)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    udp_sum = _checksum(pseudo + header + payload) or 0xFFFF
    ttl = 64 if dst_ip == BROADCAST else _TTL.get(dport, 1)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0x4000, ttl, socket.IPPROTO_UDP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return (_dest_mac(dst_ip) + _mac_bytes(src_mac) + b"\x08\x00" + ip
            + struct.pack("!HHHH", sport, dport, length, udp_sum) + payload)


def _tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!H", (kind << 9) | len(value)) + value


def lldpdu(agent: LldpAgent, mac: str, ip: str, ifindex: int) -> bytes:
    """The TLVs of IEEE 802.1AB §8.5 in their required order, then the optional ones."""
    mgmt = bytes([5, 1]) + socket.inet_aton(ip) + b"\x02" + struct.pack("!I", ifindex) + b"\x00"
    return b"".join((
        _tlv(1, b"\x04" + _mac_bytes(mac)),                  # chassis ID, subtype 4: MAC address
        _tlv(2, b"\x05" + agent.port_id.encode()),           # port ID, subtype 5: interface name
        _tlv(3, struct.pack("!H", LLDP_TTL)),
        _tlv(5, agent.system_name.encode()),
        _tlv(6, agent.system_description.encode()),
        _tlv(8, mgmt),                                       # IPv4, ifIndex numbering, no OID
        _tlv(0, b""),
    ))


def lldp_frame(src_mac: str, lldp_payload: bytes) -> bytes:
    frame = _mac_bytes(LLDP_DEST[0]) + _mac_bytes(src_mac) + b"\x88\xcc" + lldp_payload
    return frame.ljust(60, b"\0")                            # Ethernet minimum (without FCS)


def dhcp_message(client: DhcpClient, mac: str, ip: str, request: bool, xid: int) -> bytes:
    """A DHCPDISCOVER, or (request) an INIT-REBOOT DHCPREQUEST asking for `ip` again (RFC 2131 §4.3.2)."""
    options = [bytes([53, 1, 3 if request else 1]),
               bytes([61, 7, 1]) + _mac_bytes(mac)]            # client identifier: type 1 + MAC
    if request:
        options.append(bytes([50, 4]) + socket.inet_aton(ip))
    for code, text in ((12, client.hostname), (60, client.vendor_class)):
        raw = text.encode()
        options.append(bytes([code, len(raw)]) + raw)
    options.append(bytes([55, len(client.request_list), *client.request_list]))
    fixed = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                        b"\0" * 4, b"\0" * 4, _mac_bytes(mac), b"", b"")
    return fixed + DHCP_COOKIE + b"".join(options) + b"\xff"


Announce = Callable[[bytes, tuple[str, int]], list[udp.Reply]]


class Chatterbox:
    """One device's schedule: builds each round's announcements, applies the persona's
    chatter behaviour (flood/raw, as `udp.misbehaving` does for replies) and sends frames."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ifname: str, persona: Persona,
                 values: dict[str, str]) -> None:
        """Opens the socket: call inside the device's namespace. `values`: its `device_vars`."""
        assert persona.chatter is not None
        self.loop, self.chatter = loop, persona.chatter
        self.values, self.persona = values, persona
        self.ip, self.mac = values["ip"], values["mac"]
        self.ifindex = socket.if_nametoindex(ifname)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)   # protocol 0: send only
        self.sock.bind((ifname, 0))
        self.sock.setblocking(False)
        self.seq = itertools.count(1)
        self.rng = random.Random()
        self.kinds = {kind: udp.misbehaving(self.chatter.behaviour, self._builder(kind)) for kind in self.chatter.kinds}
        self.timer = loop.call_later(self.rng.uniform(*FIRST_ROUND), self._round)

    def _builder(self, kind: str) -> Announce:
        p, v = self.persona, self.values
        one: Callable[[], list[udp.Reply]]
        if kind == "sadp":
            sadp = vendor.sadp_match(v["uuid"].upper(), p.sadp.fields, v)  # type: ignore[union-attr]
            one = lambda: [(sadp, (vendor.SADP_GROUP, vendor.SADP_PORT))]
        elif kind == "dhip":
            one = lambda: [(vendor.dhip_notify(p.dhip.fields, v), (vendor.DHIP_GROUP, vendor.DHIP_PORT))]  # type: ignore[union-attr]
        elif kind == "wsd":
            one = lambda: [(onvif.hello(p.onvif, v, version, next(self.seq)), (onvif.WSD_GROUP, onvif.WSD_PORT))  # type: ignore[arg-type]
                           for version in sorted(p.onvif.wsd_versions)]  # type: ignore[union-attr]
        elif kind == "ssdp":
            one = lambda: [(ssdp.notify(p.ssdp.fields, v), (ssdp.GROUP, ssdp.PORT))]  # type: ignore[union-attr]
        elif kind == "mdns":
            records = mdns.MdnsAnswers(p.mdns, v)  # type: ignore[arg-type]
            one = lambda: [(records.announcement(), (mdns.GROUP, mdns.PORT))]
        elif kind == "dhcp":
            client = self.chatter.dhcp
            one = lambda: [(dhcp_message(client, self.mac, self.ip, request, self.rng.getrandbits(32)),  # type: ignore[arg-type]
                            (BROADCAST, 67)) for request in (False, True)]
        else:
            payload = lldpdu(self.chatter.lldp, self.mac, self.ip, self.ifindex)  # type: ignore[arg-type]
            one = lambda: [(payload, LLDP_DEST)]
        return lambda data, sender: one()

    def _round(self) -> None:
        for kind, announce in self.kinds.items():
            try:
                for payload, dest in announce(b"", ("", 0)):
                    self._send(kind, payload, dest)
            except Exception:  # one bad announcement must never stop the fleet
                log.exception("chatter %s of %s failed", kind, self.ip)
        interval = self.chatter.interval * self.rng.uniform(1 - JITTER, 1 + JITTER)
        self.timer = self.loop.call_later(interval, self._round)

    def _send(self, kind: str, payload: bytes, dest: tuple[str, int]) -> None:
        if dest == LLDP_DEST:
            frame = lldp_frame(self.mac, payload[:MAX_PAYLOAD["lldp"]])
        else:
            src_ip = "0.0.0.0" if kind == "dhcp" else self.ip
            frame = udp_frame(self.mac, src_ip, SOURCE_PORT[kind], dest, payload[:MAX_PAYLOAD["udp"]])
        try:
            self.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            pass                                    # a full queue drops, as a busy device's NIC would
        except OSError as exc:
            log.warning("chatter %s of %s not sent: %s", kind, self.ip, exc)

    def close(self) -> None:
        self.timer.cancel()
        self.sock.close()

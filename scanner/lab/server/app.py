"""Bind every device of a lab spec and serve them from one asyncio loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from camaudit.lab import netns, persona as persona_mod
from camaudit.lab.persona import Discovery, Persona
from camaudit.lab.server import chatter, mdns, onvif, snmp, ssdp, tcp, udp, vendor
from camaudit.lab.server.onvif import WSD_GROUP, WSD_GROUP6, WSD_PORT
from camaudit.lab.server.render import device_vars, fill_str
from camaudit.lab.server.tlscert import CertFactory


@dataclass(frozen=True, slots=True)
class HostSpec:
    """One device as the lab controller hands it to the server."""

    persona_file: str
    ip: str
    mac: str
    netns: str
    ifname: str
    chatter: bool = False   # send the persona's [chatter] (a lab started with chatter on)
    ipv6: str | None = None   # an IPv6-only device has it as `ip` too

    @property
    def addresses(self) -> list[str]:
        """Every address the device answers on, each once."""
        return list(dict.fromkeys(a for a in (self.ip, self.ipv6) if a))


def read_spec(path: Path) -> list[HostSpec]:
    data = json.loads(path.read_text())
    return [HostSpec(**d) for d in data["devices"]]


def _listen(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ip, port))
    sock.setblocking(False)
    return sock


def _destinations(d: Discovery, sender: tuple[str, int], group: str, port: int) -> list[tuple[str, int]]:
    """Where a reply goes; IPv6 has no broadcast, so a "broadcast" reply is not sent there."""
    where = {"sender": sender, "multicast": (group, port)}
    if ":" not in group:
        where["broadcast"] = ("255.255.255.255", port)
    return [where[w] for w in d.reply_to if w in where]


class FleetServer:
    """Owns every socket and asyncio server of the lab."""

    def __init__(self, workdir: Path) -> None:
        self.certs = CertFactory(workdir)
        self.servers: list[asyncio.base_events.Server] = []
        self.responders: list[udp.Responder] = []
        self.sockets: list[socket.socket] = []
        self.chatterboxes: list[chatter.Chatterbox] = []

    async def bind(self, hosts: list[HostSpec]) -> None:
        personas: dict[str, Persona] = {}
        for h in hosts:
            if h.persona_file not in personas:
                personas[h.persona_file] = persona_mod.load(Path(h.persona_file))
        loop = asyncio.get_running_loop()
        pending: list[tuple[socket.socket, object, object]] = []
        by_ns: dict[str, list[HostSpec]] = defaultdict(list)
        for h in hosts:
            by_ns[h.netns].append(h)
        for ns, members in by_ns.items():
            # Sockets are created inside the device namespace (this thread only), then served
            # from here: they stay bound to the namespace they were born in.
            with netns.entered(ns):
                for h in members:
                    pending += self._bind_host(loop, h, personas[h.persona_file])
        for sock, handler, ssl_ctx in pending:
            self.servers.append(await asyncio.start_server(handler, sock=sock, ssl=ssl_ctx, backlog=128))

    def _bind_host(self, loop: asyncio.AbstractEventLoop, h: HostSpec, p: Persona) -> list:
        return [entry for ip in h.addresses for entry in self._bind_address(loop, h, p, ip)]

    def _bind_address(self, loop: asyncio.AbstractEventLoop, h: HostSpec, p: Persona, ip: str) -> list:
        """Every service of the persona on one address. On IPv6 the multicast responders join
        the IPv6 groups; SADP and DHIP stay IPv4-only: neither documents an IPv6 group."""
        values = device_vars(ip, h.mac)
        v6 = ":" in ip
        pending = []
        for hp in p.http:
            ctx = self.certs.context(fill_str(hp.tls.subject, values), fill_str(hp.tls.issuer, values)) if hp.tls else None
            pending.append((self._track(_listen(ip, hp.port)),
                            tcp.connection_handler(tcp.http_service(hp, p.onvif, values), hp.behaviour), ctx))
        if p.rtsp:
            pending.append((self._track(_listen(ip, p.rtsp.port)),
                            tcp.connection_handler(tcp.rtsp_service(p.rtsp, values), p.rtsp.behaviour), None))
        for tp in p.tcp:
            pending.append((self._track(_listen(ip, tp.port)),
                            tcp.connection_handler(tcp.raw_service(tp), tp.behaviour), None))
        if p.onvif and p.onvif.behaviour.name != "silent":
            seq = itertools.count(1)
            o = p.onvif

            def wsd(data: bytes, sender: tuple[str, int]) -> list[udp.Reply]:
                reply = onvif.probe_match(data, o, values, next(seq))
                return [(reply, sender)] if reply else []
            self._responder(loop, h, ip, WSD_PORT, WSD_GROUP6 if v6 else WSD_GROUP, udp.misbehaving(o.behaviour, wsd))
        for d, group, port, make in ((p.sadp, None if v6 else vendor.SADP_GROUP, vendor.SADP_PORT, vendor.sadp_reply),
                                     (p.dhip, None if v6 else vendor.DHIP_GROUP, vendor.DHIP_PORT, vendor.dhip_reply),
                                     (p.ssdp, ssdp.GROUP6 if v6 else ssdp.GROUP, ssdp.PORT, ssdp.reply)):
            if d is None or group is None or d.behaviour.name == "silent":
                continue

            def handler(data: bytes, sender: tuple[str, int], d=d, group=group, port=port, make=make) -> list[udp.Reply]:
                reply = make(data, d.fields, values)
                return [(reply, dest) for dest in _destinations(d, sender, group, port)] if reply else []
            self._responder(loop, h, ip, port, group, udp.misbehaving(d.behaviour, handler))
        if p.mdns and p.mdns.behaviour.name != "silent":
            group = mdns.GROUP6 if v6 else mdns.GROUP
            self._responder(loop, h, ip, mdns.PORT, group,
                            udp.misbehaving(p.mdns.behaviour, mdns.MdnsAnswers(p.mdns, values, group).reply))
        if p.snmp and p.snmp.behaviour.name != "silent":
            self._responder(loop, h, ip, snmp.PORT, None, udp.misbehaving(p.snmp.behaviour, snmp.agent(p.snmp)))
        if h.chatter and p.chatter:
            self.chatterboxes.append(chatter.Chatterbox(loop, h.ifname, p, values))
        return pending

    def _track(self, sock: socket.socket) -> socket.socket:
        self.sockets.append(sock)
        return sock

    def _responder(self, loop: asyncio.AbstractEventLoop, h: HostSpec, ip: str, port: int, group: str | None,
                   handler: udp.Handler) -> None:
        sock, ifindex = udp.open_socket(h.ifname, ip, port, group)
        self.responders.append(udp.Responder(loop, self._track(sock), ifindex, ip, handler))

    def close(self) -> None:
        for box in self.chatterboxes:
            box.close()
        for server in self.servers:
            server.close()
        for sock in self.sockets:
            sock.close()

"""UPnP discovery: SSDP M-SEARCH (UDP 1900, group 239.255.255.250), then each device's description.

Routers, ONTs, NVRs and cameras announce themselves over SSDP (UPnP Device Architecture
1.1/2.0, section 1): a search reply names the UPnP stack in `SERVER` (`Linux UPnP/1.0
Huawei-ATP-IGD`) and points at the device description in `LOCATION`, whose `<device>`
says who made it (`manufacturer`, `modelName`, `serialNumber`…).

The description is fetched only when the LOCATION is plain HTTP on the answering device's
own literal address and that address is a permitted target: a reply cannot send the
scanner to another host, a name to resolve, TLS or a redirect (3xx answers are recorded,
never followed). The fetch goes through `ProbeContext.open_connection` (excludes, per-host
slot, rate token), is capped at DESCRIPTION_MAX_BYTES and the read budget, and the XML is
read by `upnp_description.parse_description` (no DTD, depth and element caps).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from camaudit.addresses import authority
from camaudit.model import Datagram, Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._io import ProbeFailure, by_sender, exchange
from camaudit.probes.http import request_bytes
from camaudit.probes.base import ProbeContext, SweepProbe
from camaudit.probes.upnp_description import MAX_VALUE_CHARS, description_target, parse_description, parse_ssdp

GROUP, PORT = "239.255.255.250", 1900
SEARCH_TARGET = "upnp:rootdevice"   # every root device answers it (UDA 1.3.2), once per device
MAX_DEVICES = 4096                  # senders read per sweep
MAX_DATAGRAMS_PER_SENDER = 16       # a device answers once per root device; more is a flood
MAX_ITEMS = 16                      # distinct ST/USN values kept per device
DESCRIPTION_MAX_BYTES = 256 * 1024  # real descriptions are 2-20 KiB
FETCH_CONCURRENCY = 32              # descriptions fetched at once (per-host slots still apply)
# The engine cancels a sweep at 4 x (connect + read) + the sweep wait; fetches stop earlier so
# the replies already read are kept.
FETCH_BUDGET_FACTOR = 3.0


def search_message() -> bytes:
    """The M-SEARCH of UDA 1.3.2: MX 1 so devices answer within the sweep's wait."""
    return (f"M-SEARCH * HTTP/1.1\r\nHOST: {GROUP}:{PORT}\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
            f"ST: {SEARCH_TARGET}\r\n\r\n").encode()


@dataclass(slots=True)
class Device:
    """What one sender said across its search replies (merged, bounded)."""

    ip: str
    server: str = ""
    location: str = ""
    st: list[str] = field(default_factory=list)
    usn: list[str] = field(default_factory=list)
    failure: ProbeFailure | None = None      # the first unreadable reply from this sender

    def merge(self, reply: Datagram) -> None:
        if reply.truncated:
            self.failure = self.failure or ProbeFailure(
                ProbeStatus.TOO_LARGE, f"SSDP reply longer than the {len(reply.data)}-byte datagram cap")
            return
        try:
            ssdp = parse_ssdp(reply.data)
        except ValueError as exc:
            self.failure = self.failure or ProbeFailure(ProbeStatus.PROTOCOL_ERROR, str(exc))
            return
        if ssdp.status != 200:
            self.failure = self.failure or ProbeFailure(ProbeStatus.PROTOCOL_ERROR,
                                                        f"SSDP reply with status {ssdp.status}")
            return
        self.server = self.server or ssdp.headers.get("SERVER", "")
        self.location = self.location or ssdp.headers.get("LOCATION", "")
        for have, key in ((self.st, "ST"), (self.usn, "USN")):
            value = ssdp.headers.get(key)
            if value and value not in have and len(have) < MAX_ITEMS:
                have.append(value)

    @property
    def answered(self) -> bool:
        return bool(self.server or self.location or self.st or self.usn)

    def data(self) -> dict[str, Any]:
        return {"server": self.server, "location": self.location, "st": self.st, "usn": self.usn}


def merge_replies(replies: list[Datagram]) -> list[Device]:
    """Replies merged per sender; floods cost only their own sender's cap."""
    devices = []
    for ip, datagrams in by_sender(replies, MAX_DEVICES, MAX_DATAGRAMS_PER_SENDER).items():
        dev = Device(ip)
        for reply in datagrams:
            dev.merge(reply)
        devices.append(dev)
    return devices


async def fetch_description(dev: Device, ctx: ProbeContext) -> tuple[dict[str, Any], ProbeFailure | None]:
    """The description fields of `dev` (or why not) plus what stopped the fetch, if anything.

    A LOCATION the rules refuse is not a failure of the device: the SSDP answer stands, and
    `description_skipped` says why nothing was fetched.
    """
    try:
        port, path = description_target(dev.location, dev.ip)
    except ValueError as exc:
        return {"description_skipped": str(exc)[:MAX_VALUE_CHARS]}, None
    if not ctx.permits(dev.ip):
        return {"description_skipped": f"{dev.ip} is excluded or not a target"}, None
    bounds = replace(ctx.bounds, max_bytes=DESCRIPTION_MAX_BYTES)
    resp, status, error = await exchange(ctx, dev.ip, port, request_bytes("GET", path, authority(dev.ip, port, default=80)),
                                         bounds=bounds)
    where = f"description http://{authority(dev.ip, port, zone=True)}{path}"
    if status is not ProbeStatus.OK:
        return {}, ProbeFailure(status, f"{where}: {error}")
    if resp.status != 200:
        return {"description_status": resp.status}, ProbeFailure(
            ProbeStatus.PROTOCOL_ERROR, f"{where}: HTTP {resp.status} (redirects are not followed)")
    try:
        return {"device": parse_description(resp.body)}, None
    except ValueError as exc:
        return {}, ProbeFailure(ProbeStatus.PROTOCOL_ERROR, f"{where}: {exc}")


class UpnpProbe(SweepProbe):
    """SSDP search on the scanner's segment and by unicast to routed hosts, then descriptions."""

    name: ClassVar[str] = "upnp"

    async def sweep(self, hosts: list[Host], ctx: ProbeContext) -> list[Observation]:
        replies = await ctx.ask(search_message(), group=GROUP, port=PORT, unicast_to=[h.ip for h in hosts])
        macs = {h.ip: h.mac for h in hosts}
        devices = merge_replies(replies)
        budget = FETCH_BUDGET_FACTOR * (ctx.bounds.connect_timeout + ctx.bounds.read_timeout)
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def one(dev: Device) -> Observation:
            extra: dict[str, Any] = {}
            failure = dev.failure
            if dev.answered:
                async with gate:
                    try:
                        extra, failure = await fetch_description(dev, ctx)
                    except Exception as exc:  # noqa: BLE001 - one device never costs the others
                        failure = ProbeFailure(ProbeStatus.ERROR, f"{type(exc).__name__}: {exc}")
            return observation(dev, macs.get(dev.ip), extra, failure)

        tasks = {asyncio.ensure_future(one(dev)): dev for dev in devices}
        done, late = await asyncio.wait(tasks, timeout=budget) if tasks else (set(), set())
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        late_failure = ProbeFailure(ProbeStatus.TIMEOUT, "description not fetched within the sweep's budget")
        return [task.result() if task in done else observation(tasks[task], macs.get(tasks[task].ip), {}, late_failure)
                for task in tasks]


def observation(dev: Device, mac: str | None, extra: dict[str, Any],
                failure: ProbeFailure | None) -> Observation:
    """One observation per device: the SSDP answer, the description's fields, and what failed."""
    data = {**dev.data(), **extra} if dev.answered else {}
    if failure is None:
        return Observation(source="upnp", ip=dev.ip, mac=mac, port=PORT, data=data)
    return Observation(source="upnp", ip=dev.ip, mac=mac, port=PORT, data=data, status=failure.status,
                       error=f"UPnP {dev.ip}: {failure}")


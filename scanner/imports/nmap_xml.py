"""nmap XML (`-oX`, ideally with `-sV` and MACs from a local run) → observations.

The file is untrusted input (a colleague's scan, a device's banner echoed by nmap): it is
read through defusedxml (no DTDs, entities or network), host by host with `iterparse` so a
large file needs memory for one host at a time, with a size cap on the bytes read (whatever
the file is) and on every value kept. Per host: an `arp` observation when nmap saw its MAC (the same evidence a native
ARP sweep gives), one `nmap` observation per open TCP port with everything nmap's `<service>`
says (product, version, extra info, device type, OS type, host name, CPEs), and one `nmap`
observation without a port for what nmap says about the host as a whole (its `<hostnames>`
and its best `<os>` matches with their classes and CPEs), when it says anything.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from defusedxml import ElementTree as SafeET

from camaudit.addresses import canonical
from camaudit.boundedio import CappedStream, TooLarge
from camaudit.observation import Observation, normalize_mac

MAX_FILE_BYTES = 512 << 20   # a /16 -sV run is a few tens of MiB
MAX_VALUE_CHARS = 1024
MAX_CPES = 16
MAX_HOSTNAMES = 16
MAX_OS_MATCHES = 8           # nmap lists up to 10 guesses; only those of the best accuracy are kept
MAX_OS_CLASSES = 16          # per match
MAX_HOST_ELEMENTS = 300_000  # every TCP port open with a service and a few CPEs fits
HOST_PARTS = frozenset({"status", "address", "ports", "port", "state", "service", "cpe",  # what `_host` reads
                        "hostnames", "hostname", "os", "osmatch", "osclass"})
SERVICE_KEYS = (("name", "service"), ("product", "product"), ("version", "version"),
                ("extrainfo", "extrainfo"), ("devicetype", "devicetype"), ("ostype", "ostype"),
                ("hostname", "hostname"))
OSCLASS_KEYS = ("vendor", "osfamily", "osgen", "type")


class NmapXmlError(ValueError):
    """The file is not usable nmap XML; the message says why."""


@dataclass(slots=True)
class NmapPort:
    port: int
    data: dict[str, Any]


@dataclass(slots=True)
class NmapHost:
    ip: str
    mac: str | None = None
    ports: list[NmapPort] = field(default_factory=list)  # open TCP ports only
    hostnames: list[str] = field(default_factory=list)
    osmatch: list[dict[str, Any]] = field(default_factory=list)  # the best-accuracy OS guesses
    at: str | None = None  # when nmap began probing the host (its `starttime`), ISO 8601 UTC


def _cap(value: str | None) -> str | None:
    return value[:MAX_VALUE_CHARS] if value else None


def _cpes(elem: Any) -> list[str]:
    return [c for c in (_cap(c.text) for c in elem.findall("cpe")[:MAX_CPES]) if c]


def _accuracy(elem: Any) -> int:
    try:
        return int(elem.get("accuracy", ""))
    except ValueError:
        return -1


def _osmatches(elem: Any) -> list[dict[str, Any]]:
    """nmap's OS guesses of the highest accuracy (`<os><osmatch name accuracy><osclass …><cpe>`).

    Lower guesses are left out: nmap lists unrelated devices below its best one (a router
    beside a DVR), and a fingerprint cannot weigh an accuracy.
    """
    matches = elem.findall("os/osmatch")
    best = max((_accuracy(m) for m in matches), default=-1)
    out = []
    for match in (m for m in matches if _accuracy(m) == best):
        entry: dict[str, Any] = {"accuracy": best} if best >= 0 else {}
        if name := _cap(match.get("name")):
            entry["name"] = name
        classes = []
        for osclass in match.findall("osclass")[:MAX_OS_CLASSES]:
            found: dict[str, Any] = {key: v for key in OSCLASS_KEYS if (v := _cap(osclass.get(key)))}
            if cpes := _cpes(osclass):
                found["cpe"] = cpes
            if found:
                classes.append(found)
        if classes:
            entry["osclass"] = classes
        if "name" in entry or classes:
            out.append(entry)
        if len(out) == MAX_OS_MATCHES:
            break
    return out


def _host(elem: Any) -> NmapHost | None:
    status = elem.find("status")
    if status is not None and status.get("state") not in (None, "up"):
        return None
    ip = mac = None
    for addr in elem.findall("address"):
        kind = addr.get("addrtype")
        if kind in ("ipv4", "ipv6") and ip is None:  # `nmap -6` writes addrtype="ipv6"
            raw = addr.get("addr") or ""
            ip = canonical(raw) or _cap(raw)
        elif kind == "mac" and mac is None:
            mac = _cap(addr.get("addr"))
    if ip is None and mac is None:
        return None
    names = (_cap(h.get("name")) for h in elem.iterfind("hostnames/hostname"))
    host = NmapHost(ip or "", mac, hostnames=[n for n in names if n][:MAX_HOSTNAMES],
                    osmatch=_osmatches(elem), at=_start_time(elem.get("starttime")))
    for port in elem.iterfind("ports/port"):
        state = port.find("state")
        if port.get("protocol") != "tcp" or state is None or state.get("state") != "open":
            continue
        try:
            number = int(port.get("portid", ""))
        except ValueError:
            continue
        if not 0 < number < 65536:
            continue
        data: dict[str, Any] = {}
        service = port.find("service")
        if service is not None:
            for attr, key in SERVICE_KEYS:
                if value := _cap(service.get(attr)):
                    data[key] = value
            if cpes := _cpes(service):
                data["cpe"] = cpes
        host.ports.append(NmapPort(number, data))
    return host


def _start_time(value: str | None) -> str | None:
    """`<host starttime>` (seconds since the epoch) as ISO 8601 UTC; None when absent or unreadable."""
    try:
        return datetime.fromtimestamp(int(value or ""), timezone.utc).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def iter_hosts(stream: IO[bytes]) -> Iterator[NmapHost]:
    """Hosts that are up, one at a time; raises NmapXmlError when the XML is unusable.

    Memory holds one host: every element is detached from its parent at its end event,
    except the parts of the current `<host>` that `_host` reads, which go with the host.
    iterparse builds the tree a read buffer ahead of the events it reports, so the element
    that just ended is not always its parent's last child: it is removed by identity (its
    parent holds only what the buffer added since, as everything before was detached). nmap writes many elements besides
    hosts (`<taskprogress>` every few seconds of a long run), so they are dropped too.
    """
    stack: list[Any] = []
    kept = 0
    try:
        for event, elem in SafeET.iterparse(stream, events=("start", "end")):
            if event == "start":
                if not stack and elem.tag != "nmaprun":
                    raise NmapXmlError(f"not nmap XML (root element <{elem.tag}>, expected <nmaprun>)")
                stack.append(elem)
                continue
            stack.pop()
            if len(stack) < 2:  # the root, or a child of it: a host is complete
                if stack and elem.tag == "host" and (host := _host(elem)) is not None:
                    yield host
                kept = 0
            elif stack[1].tag == "host" and elem.tag in HOST_PARTS:
                kept += 1
                if kept > MAX_HOST_ELEMENTS:
                    raise NmapXmlError(f"a <host> with more than {MAX_HOST_ELEMENTS} elements is not nmap output")
                continue
            if stack:
                stack[-1].remove(elem)
    except SafeET.ParseError as exc:
        raise NmapXmlError(f"malformed XML: {exc}") from None
    except TooLarge as exc:
        raise NmapXmlError(f"{exc} for nmap XML") from None
    except Exception as exc:  # defusedxml forbids DTDs/entities by raising its own errors
        if isinstance(exc, NmapXmlError):
            raise
        raise NmapXmlError(f"refused XML: {type(exc).__name__}: {exc}") from None


def observations(hosts: Iterator[NmapHost] | list[NmapHost]) -> Iterator[Observation]:
    """The observations one nmap host stands for (see module docstring)."""
    for host in hosts:
        ip = host.ip or None
        try:
            mac = normalize_mac(host.mac) if host.mac else None
        except ValueError:
            mac = None  # a MAC nmap printed but we cannot read: keep the host by IP
        if ip is None and mac is None:
            continue
        if mac:
            yield Observation(source="arp", ip=ip, mac=mac, at=host.at)
        for port in host.ports:
            yield Observation(source="nmap", ip=ip, mac=mac, port=port.port, data=port.data, at=host.at)
        whole: dict[str, Any] = {}
        if host.hostnames:
            whole["hostnames"] = host.hostnames
        if host.osmatch:
            whole["osmatch"] = host.osmatch
        if whole:
            yield Observation(source="nmap", ip=ip, mac=mac, data=whole, at=host.at)


def read_file(path: str | Path) -> Iterator[Observation]:
    """The observations of an nmap XML file, produced as the file is read (for memory that
    does not grow with the number of hosts); at most MAX_FILE_BYTES are read, counted while
    reading, so a FIFO or a device file is capped too."""
    p = Path(path)
    try:
        with p.open("rb") as stream:
            yield from observations(iter_hosts(CappedStream(stream, MAX_FILE_BYTES)))
    except OSError as exc:
        raise NmapXmlError(f"cannot read {p}: {exc.strerror or exc}") from None


def read_bytes(data: bytes) -> list[NmapHost]:
    """Hosts of an in-memory XML document (the nmap backend's own output)."""
    return list(iter_hosts(io.BytesIO(data)))

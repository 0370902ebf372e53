"""The nmap discovery backend (`--engine nmap`), through python-nmap.

For users who trust nmap's host discovery more than ours. nmap always runs with `-n` (no
DNS: without it a /24 took 339 s in the lab, and lookups would leak the targets to a
resolver), with the scan's targets and excludes passed as files (so excluded addresses
get no packet from nmap either), `--max-rate` from `--rate`, and `-e` the interface the
route chose. Its XML is read back with our hardened parser (camaudit.imports.nmap_xml), one
code path for nmap output whether it came from this backend or from `camaudit import nmap`.

nmap runs as a child of the calling thread, so it inherits that thread's network namespace.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable

from camaudit.discovery.base import DiscoveryContext, DiscoverySettings, OnHost
from camaudit.imports.nmap_xml import NmapXmlError, read_bytes
from camaudit.model import Host
from camaudit.targets import TargetSet


class NmapError(RuntimeError):
    """nmap is missing or failed; the message says what to do."""


def arguments(ports: Iterable[int], *, rate: float, interface: str | None, privileged: bool,
              targets_file: str, excludes_file: str | None) -> str:
    """The nmap command line (without the binary and -oX), always with -n."""
    args = ["-n", "-sS" if privileged else "-sT", "-p", ",".join(str(p) for p in sorted(set(ports))),
            "--max-rate", str(max(1, int(rate))), "-iL", targets_file]
    if excludes_file:
        args += ["--excludefile", excludes_file]
    if interface:
        args += ["-e", interface]
    return " ".join(args)


def run_nmap(targets: TargetSet, ports: Iterable[int], *, rate: float,
             interface: str | None) -> tuple[list[Host], list[str]]:
    """Run nmap over the permitted targets; returns live hosts (MAC, open ports) and warnings."""
    import nmap  # python-nmap

    warnings: list[str] = []
    privileged = os.geteuid() == 0
    if not privileged:
        warnings.append("nmap without root uses TCP connect (-sT) and sees no MAC addresses")
    with tempfile.TemporaryDirectory(prefix="camaudit-nmap-") as tmp:
        targets_file = os.path.join(tmp, "targets")
        with open(targets_file, "w") as fh:
            fh.write("\n".join(str(net) for net in targets.networks()) + "\n")
        excludes_file = None
        if targets.excluded:
            excludes_file = os.path.join(tmp, "excludes")
            with open(excludes_file, "w") as fh:
                fh.write("\n".join(str(net) for net in targets.excluded_networks()) + "\n")
        args = arguments(ports, rate=rate, interface=interface, privileged=privileged,
                         targets_file=targets_file, excludes_file=excludes_file)
        try:
            scanner = nmap.PortScanner()
            scanner.scan(hosts="", arguments=args)
        except nmap.PortScannerError as exc:
            raise NmapError(f"nmap failed: {str(exc).strip()} (is nmap installed? try --engine native)") from None
        output = scanner.get_nmap_last_output()
    try:
        parsed = read_bytes(output if isinstance(output, bytes) else output.encode())
    except NmapXmlError as exc:
        raise NmapError(f"could not read nmap's output: {exc}") from None
    hosts = [Host(h.ip, h.mac.lower() if h.mac else None, frozenset(p.port for p in h.ports))
             for h in parsed if h.ip and targets.permits(h.ip)]
    return hosts, warnings


class NmapDiscovery:
    """`--engine nmap`: one nmap run over all targets (it ARPs on-link ones itself when root).

    nmap blocks the event loop while it runs; nothing else of the scan is under way then.
    """

    def __init__(self, settings: DiscoverySettings) -> None:
        self.settings = settings
        self.arp_used = False

    async def discover(self, targets: TargetSet, ctx: DiscoveryContext, on_host: OnHost) -> None:
        hosts, warnings = run_nmap(targets, self.settings.ports, rate=self.settings.rate,
                                   interface=ctx.interface)
        ctx.warnings.extend(warnings)
        self.arp_used = any(h.mac for h in hosts)
        for host in hosts:
            on_host(host)

"""Packet capture on the scanner's lab link, so tests can prove what was (not) sent."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any


class Capture:
    """tcpdump inside the scanner namespace writing a pcap; `packets()` reads it with scapy."""

    def __init__(self, ns: str, iface: str, path: Path, bpf: str = "", snaplen: int = 512) -> None:
        self.ns, self.iface, self.path, self.bpf, self.snaplen = ns, iface, path, bpf, snaplen
        self.proc: subprocess.Popen | None = None
        self._packets: list[Any] | None = None

    def start(self) -> None:
        argv = ["ip", "netns", "exec", self.ns, "tcpdump", "-i", self.iface, "-n", "-U", "--immediate-mode", "-Z", "root",
                "-s", str(self.snaplen), "-w", str(self.path)] + (self.bpf.split() if self.bpf else [])
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # tcpdump says "listening on IFACE" once the capture is armed; waiting for it makes
        # sure the first packets of the test are not missed.
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline().decode(errors="replace")
        if "listening on" not in line:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"tcpdump did not start on {self.ns}/{self.iface}: {line.strip()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            time.sleep(0.2)  # let in-flight packets reach the file (immediate mode, -U flushes each)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.packets()  # read now, so the pcap file is removed even if no one asks for packets

    def packets(self) -> list[Any]:
        """All captured frames as scapy packets (read once, when the capture stops)."""
        if self._packets is None:
            import scapy.layers.inet  # noqa: F401  (registers Ethernet/IP/ARP so frames decode)
            import scapy.layers.inet6  # noqa: F401  (and IPv6 with ICMPv6)
            from scapy.utils import rdpcap
            try:
                self._packets = list(rdpcap(str(self.path))) if self.path.stat().st_size > 24 else []
            except (FileNotFoundError, EOFError):
                self._packets = []
            self.path.unlink(missing_ok=True)
        return self._packets

    def involving(self, address: str) -> list[Any]:
        """Captured IP/IPv6 packets to or from `address`, ARP frames asking for it and
        neighbour solicitations/advertisements about it (IPv6 compared in canonical form)."""
        import ipaddress

        from scapy.layers.inet import IP
        from scapy.layers.inet6 import IPv6, ICMPv6ND_NA, ICMPv6ND_NS
        from scapy.layers.l2 import ARP
        address = str(ipaddress.ip_address(address))
        out = []
        for pkt in self.packets():
            if IP in pkt and address in (pkt[IP].src, pkt[IP].dst):
                out.append(pkt)
            elif ARP in pkt and address in (pkt[ARP].pdst, pkt[ARP].psrc):
                out.append(pkt)
            elif IPv6 in pkt and address in {str(ipaddress.ip_address(a)) for a in (
                    pkt[IPv6].src, pkt[IPv6].dst, *(pkt[layer].tgt for layer in (ICMPv6ND_NS, ICMPv6ND_NA) if layer in pkt))}:
                out.append(pkt)
        return out

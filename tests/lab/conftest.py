"""Helpers for the lab's own tests: talk to personas from inside the scanner namespace.

Everything here runs in the calling thread after it entered the lab's scanner namespace
(`lab.in_scanner_ns()`), so every packet stays on the lab link. pytest runs with
--import-mode=importlib, so helpers reach the tests through the `probe` fixture.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from typing import Any

import pytest
from cryptography import x509

SCANNER_IP = "198.18.0.1"
SO_RCVBUFFORCE = 33  # Linux; root may exceed rmem_max


class ScannerSide:
    """Minimal clients (TCP request, UDP sweep, TLS certificate) used inside the scanner namespace."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab

    def request(self, ip: str, port: int, data: bytes, timeout: float = 3.0, max_bytes: int = 1 << 20) -> bytes:
        """Send `data`, read until the peer closes (or `timeout` passes with nothing new)."""
        with self.lab.in_scanner_ns():
            sock = socket.create_connection((ip, port), timeout=timeout)
        with sock:
            if data:
                sock.sendall(data)
            out = b""
            try:
                while len(out) < max_bytes:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except TimeoutError:
                pass
            return out

    def http(self, ip: str, path: str = "/", port: int = 80, method: str = "GET", body: bytes = b"",
             headers: str = "") -> tuple[int, dict[str, str], bytes, bytes]:
        """(status, headers by lower-case name, body, raw head) of one HTTP/1.1 request."""
        req = (f"{method} {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n{headers}"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        raw = self.request(ip, port, req)
        head, _, payload = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parsed = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            parsed.setdefault(name.strip().lower(), value.strip())
        return int(lines[0].split()[1]), parsed, payload, head

    def rtsp(self, ip: str, requests: list[bytes], port: int = 554) -> list[bytes]:
        """Send RTSP requests one after another on one connection; one answer head per request."""
        answers = []
        with self.lab.in_scanner_ns():
            sock = socket.create_connection((ip, port), timeout=3)
        with sock:
            for req in requests:
                sock.sendall(req)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                answers.append(buf)
        return answers

    def sweep(self, dest: tuple[str, int], payload: bytes, wait: float = 1.5,
              listen_group: str | None = None) -> list[tuple[bytes, tuple[str, int]]]:
        """Send one datagram (multicast or unicast) and collect every reply for `wait` seconds.

        With `listen_group`, also listen on the protocol port for replies sent to that group.
        """
        with self.lab.in_scanner_ns():
            socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)]
            sender = socks[0]
            # room for every reply even while a hostile persona floods ProbeMatches
            sender.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(SCANNER_IP))
            sender.bind((SCANNER_IP, 0))
            if listen_group:
                group = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                group.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                group.bind((listen_group, dest[1]))
                group.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                                 struct.pack("4s4s", socket.inet_aton(listen_group), socket.inet_aton(SCANNER_IP)))
                socks.append(group)
        replies = []
        try:
            sender.sendto(payload, dest)
            deadline = time.monotonic() + wait
            import select
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select(socks, [], [], left)
                for s in ready:
                    replies.append(s.recvfrom(65535))
        finally:
            for s in socks:
                s.close()
        return replies

    def certificate(self, ip: str, port: int = 443) -> x509.Certificate:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with self.lab.in_scanner_ns():
            raw = socket.create_connection((ip, port), timeout=3)
        with ctx.wrap_socket(raw, server_hostname=ip) as tls:
            der = tls.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der)


@pytest.fixture
def probe(lab: Any) -> ScannerSide:
    """Clients that talk to the shared lab's personas from its scanner namespace."""
    return ScannerSide(lab)


@pytest.fixture
def scanner_side():
    """Clients for a lab made by `lab_factory`: `scanner_side(lab)`."""
    return ScannerSide

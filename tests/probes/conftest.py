"""Loopback helpers for the probe tests: tiny servers on 127.0.0.1 (or ::1) and a real ScanContext.

Edge cases the lab does not ship (drip, oversized, RST, garbage, XML bombs) are served here
from 127.0.0.1 only; the lab personas are tested in test_lab_personas.py. pytest runs with
--import-mode=importlib, so the helpers reach tests through the `lb` fixture.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from camaudit.model import Bounds, Host
from camaudit.scan_context import ScanContext
from camaudit.targets import build_targets

LOOPBACK = "127.0.0.1"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Loopback:
    """Serve canned or misbehaving answers on 127.0.0.1 and probe them through a real context."""

    ip = LOOPBACK

    def __init__(self) -> None:
        self.requests: list[bytes] = []   # every request head (+ body) the servers received

    @classmethod
    def ctx(cls, **bounds: Any) -> ScanContext:
        """A real engine context whose only permitted target is the loopback address (short budgets)."""
        values: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 1.0}
        values.update(bounds)
        return ScanContext(build_targets([cls.ip]), bounds=Bounds(**values), rate=10_000)

    @classmethod
    def host(cls) -> Host:
        return Host(cls.ip)

    def request_lines(self) -> list[str]:
        return [r.split(b"\r\n", 1)[0].decode() for r in self.requests]

    def run(self, handler: Handler, work: Callable[[int], Awaitable[Any]]) -> Any:
        """asyncio.run `work(port)` while `handler` serves the loopback address's <port>."""
        async def quiet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handler(reader, writer)
            except (asyncio.CancelledError, ConnectionError):
                pass  # the test ended or the probe hung up: both are normal here

        async def main() -> Any:
            server = await asyncio.start_server(quiet, self.ip, 0)
            port = server.sockets[0].getsockname()[1]
            try:
                return await work(port)
            finally:
                server.close()
        return asyncio.run(main())

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """One request head plus its Content-Length body, recorded in `requests`."""
        head = await reader.readuntil(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                head += await reader.readexactly(int(line.split(b":", 1)[1]))
        self.requests.append(head)
        return head

    def canned(self, answers: dict[str, bytes], default: bytes = NOT_FOUND) -> Handler:
        """Answer each request-target (query included) with fixed bytes, then close."""
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await self.read_request(reader)
                writer.write(answers.get(head.split(b" ", 2)[1].decode(), default))
                await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()
        return handle

    @staticmethod
    def reset(writer: asyncio.StreamWriter) -> None:
        """Abort with SO_LINGER 0 so the peer gets an RST."""
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    @classmethod
    def closed_port(cls) -> int:
        """A loopback port with nothing listening (bound, then released)."""
        with socket.socket(socket.AF_INET6 if ":" in cls.ip else socket.AF_INET) as s:
            s.bind((cls.ip, 0))
            return s.getsockname()[1]


def http_answer(status: str, headers: list[tuple[str, str]], body: bytes = b"", *,
                length: bool = True) -> bytes:
    """Bytes of an HTTP answer exactly as given (names, order, case); Content-Length optional."""
    lines = [status] + [f"{k}: {v}" for k, v in headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Loopback6(Loopback):
    """The same servers and context on the IPv6 loopback address."""

    ip = "::1"


@pytest.fixture
def lb() -> Loopback:
    return Loopback()


@pytest.fixture
def lb6() -> Loopback:
    return Loopback6()


@pytest.fixture
def answer() -> Callable[..., bytes]:
    return http_answer

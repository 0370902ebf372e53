"""TCP services of a simulated device: HTTP(S) with ONVIF SOAP, RTSP, raw banners.

Every connection first goes through its port's behaviour (`normal`, `silent`, `reset`,
`drip`, `endless`), so hostile devices are persona data: the service code only produces bytes and
hands them to `send`, which the behaviour may slow down.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import replace
from collections.abc import Awaitable, Callable, Mapping

from camaudit.lab.persona import Answer, Behaviour, HttpPort, Onvif, RtspPort, TcpPort
from camaudit.lab.server import onvif as onvif_answers
from camaudit.lab.server.wire import IDLE_TIMEOUT, Request, read_request, render

Send = Callable[[bytes], Awaitable[None]]
Service = Callable[[asyncio.StreamReader, Send], Awaitable[None]]


def _sender(writer: asyncio.StreamWriter, behaviour: Behaviour) -> Send:
    if behaviour.name == "drip":
        interval = float(behaviour.options.get("interval", 1.0))

        async def drip(data: bytes) -> None:
            for i in range(len(data)):
                writer.write(data[i:i + 1])
                await writer.drain()
                await asyncio.sleep(interval)
        return drip

    async def send(data: bytes) -> None:
        writer.write(data)
        await writer.drain()
    return send


ENDLESS_LIMIT = 256 << 20  # an "endless" answer stops here, so a client that never closes cannot fill the lab


def _option_bytes(options: dict, key: str, default: str) -> bytes:
    """`key = "text"` or, for binary protocols (Telnet IAC bytes), `key_hex = "fffd01"`."""
    if key + "_hex" in options:
        return bytes.fromhex(str(options[key + "_hex"]))
    return str(options.get(key, default)).encode()


async def _endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, options: dict) -> None:
    """Hostile: after the request (or at once with `wait_request = false`), send `head` and
    then `filler` over and over until the client hangs up (endless headers when the head has
    no blank line, an endless body when it has; an SSH line that never ends, a Telnet
    negotiation flood)."""
    if options.get("wait_request", True):
        try:
            await asyncio.wait_for(reader.read(4096), IDLE_TIMEOUT)
        except TimeoutError:
            return
    head = _option_bytes(options, "head", "HTTP/1.1 200 OK\r\n")
    filler = _option_bytes(options, "filler", "X-Filler: " + "a" * 54 + "\r\n") * 64
    writer.write(head)
    sent = len(head)
    while sent < ENDLESS_LIMIT:
        writer.write(filler)
        await writer.drain()
        sent += len(filler)


def connection_handler(service: Service, behaviour: Behaviour) -> Callable[..., Awaitable[None]]:
    """Wrap a service in its port's behaviour; network errors end the connection quietly."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if behaviour.name == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if behaviour.name == "silent":
                hold = float(behaviour.options.get("hold", 60.0))
                try:
                    while await asyncio.wait_for(reader.read(4096), hold):
                        pass
                except TimeoutError:
                    pass
                return
            if behaviour.name == "endless":
                await _endless(reader, writer, behaviour.options)
                return
            await service(reader, _sender(writer, behaviour))
        except (ConnectionError, TimeoutError, OSError):
            pass
        finally:
            writer.close()
    return handle


def _pick(answers: tuple[Answer, ...], req: Request, by_path: bool) -> Answer | None:
    """First answer whose method (and, for HTTP, path) fits; method-less answers are fallbacks."""
    for answer in answers:
        if answer.method not in (None, req.method):
            continue
        if by_path and answer.path not in (req.target, req.path):
            continue
        if not by_path and answer.method is None:
            continue
        return answer
    if not by_path:
        return next((a for a in answers if a.method is None), None)
    return None


def http_service(port: HttpPort, onvif: Onvif | None, values: Mapping[str, str]) -> Service:
    soap_here = onvif is not None and onvif.http_port == port.port

    async def serve(reader: asyncio.StreamReader, send: Send) -> None:
        req = await read_request(reader)
        if req is None:
            return
        answer = _pick(port.answers, req, by_path=True)
        if answer is None and soap_here and req.path == "/onvif/device_service" and req.method == "POST":
            status, envelope = onvif_answers.soap_answer(req.body, onvif, values)  # type: ignore[arg-type]
            answer = Answer(status, "OK" if status == 200 else "Bad Request", "HTTP/1.1",
                            (("Content-Type", "application/soap+xml; charset=utf-8"),
                             ("Content-Length", "{length}"), ("Connection", "close")), envelope)
        await send(render(answer or port.not_found, values))
    return serve


def rtsp_service(port: RtspPort, values: Mapping[str, str]) -> Service:
    async def serve(reader: asyncio.StreamReader, send: Send) -> None:
        while (req := await read_request(reader)) is not None:
            answer = _pick(port.answers, req, by_path=False)
            if answer is None:
                return
            cseq = req.headers.get("cseq")
            if cseq is None:  # real servers echo CSeq only when the request had one
                answer = replace(answer, headers=tuple(h for h in answer.headers if "{cseq}" not in h[1]))
            await send(render(answer, {**values, "cseq": cseq or "0"}))
            if answer.close:
                return
    return serve


def raw_service(port: TcpPort) -> Service:
    async def serve(reader: asyncio.StreamReader, send: Send) -> None:
        if port.banner:
            await send(port.banner)
        while True:
            try:
                data = await asyncio.wait_for(reader.read(4096), IDLE_TIMEOUT)
            except TimeoutError:
                return
            if not data:
                return
            for reply in port.replies:
                if data.startswith(reply.match):
                    await send(reply.reply)
                    break
    return serve

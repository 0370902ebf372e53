"""`datagram.exchange` with an early resend: real UDP on loopback, a server that drops, delays or ignores."""

from __future__ import annotations

import asyncio
import socket

from camaudit import datagram


class _Server(asyncio.DatagramProtocol):
    """Answers the n-th datagram it receives (1-based) after `delay` seconds; counts all."""

    def __init__(self, answer: int | None, delay: float = 0.0) -> None:
        self.answer, self.delay, self.received = answer, delay, []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(data)
        if len(self.received) == self.answer:
            asyncio.get_running_loop().call_later(self.delay, self.transport.sendto, b"reply:" + data, addr)


async def _ask(server: _Server, **kwargs: float) -> tuple[datagram.Datagram | None, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: server, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    tokens = 0

    async def token() -> None:
        nonlocal tokens
        tokens += 1

    try:
        reply = await datagram.exchange("127.0.0.1", port, b"ask", cap=512, before_resend=token, **kwargs)
        await asyncio.sleep(0.05)  # a datagram still in flight would be counted below
    finally:
        transport.close()
    return reply, tokens


def test_a_lost_first_request_is_answered_through_the_resend() -> None:
    server = _Server(answer=2)
    reply, tokens = asyncio.run(_ask(server, wait=1.0, resend_after=0.1))
    assert reply is not None and reply.data == b"reply:ask"
    assert server.received == [b"ask", b"ask"] and tokens == 1  # the resend took a rate token


def test_a_late_answer_to_the_first_request_still_counts() -> None:
    server = _Server(answer=1, delay=0.3)  # answers the first copy after the resend went out
    reply, _ = asyncio.run(_ask(server, wait=1.0, resend_after=0.1))
    assert reply is not None and reply.data == b"reply:ask"
    assert len(server.received) == 2


def test_a_prompt_answer_sends_no_second_copy() -> None:
    server = _Server(answer=1)
    reply, tokens = asyncio.run(_ask(server, wait=1.0, resend_after=0.2))
    assert reply is not None and server.received == [b"ask"] and tokens == 0


def test_a_silent_host_gets_exactly_two_copies_and_none_back() -> None:
    server = _Server(answer=None)
    reply, tokens = asyncio.run(_ask(server, wait=0.3, resend_after=0.1))
    assert reply is None and len(server.received) == 2 and tokens == 1


def test_without_resend_one_copy_is_sent() -> None:
    server = _Server(answer=None)
    reply, tokens = asyncio.run(_ask(server, wait=0.2))
    assert reply is None and len(server.received) == 1 and tokens == 0


def test_icmp_port_unreachable_still_surfaces_as_refused() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: the kernel answers port unreachable
    try:
        asyncio.run(datagram.exchange("127.0.0.1", port, b"ask", wait=1.0, cap=512, resend_after=0.1))
    except ConnectionRefusedError:
        return
    raise AssertionError("an ICMP port unreachable must surface as ConnectionRefusedError")

"""SSH and Telnet probes against loopback servers that record every byte they receive.

What the lab cannot show from the device side: what *our* side sent. The SSH probe sends
nothing before the server's identification (and never a KEXINIT); the Telnet probe sends
refusals only (IAC WONT/DONT), each option at most once, and no login.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camaudit.observation import ProbeStatus
from camaudit.probes._io import ByteStream, ProbeFailure
from camaudit.probes import ssh as ssh_mod
from camaudit.probes import telnet as telnet_mod
from camaudit.probes.ssh import OUR_IDENTIFICATION, SshProbe, read_identification
from camaudit.probes.telnet import TelnetProbe, TelnetStream

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
SSH_MSG_KEXINIT = 20
EXAMPLES = int(os.environ.get("CAMAUDIT_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def serve(lb: Any, send: list[bytes], received: bytearray, *, pause: float = 0.0,
          hold: float = 3.0, forever: bytes | None = None):
    """A handler that sends `send` (chunk by chunk, `pause` apart), then `forever` repeated
    until the client hangs up, or holds the connection open `hold` s; records what it reads."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def record() -> None:
            while chunk := await reader.read(4096):
                received.extend(chunk)
        task = asyncio.create_task(record())
        try:
            for chunk in send:
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(pause)
            if forever is not None:
                while not task.done():
                    writer.write(forever * 64)
                    await writer.drain()
            else:
                await asyncio.wait_for(asyncio.shield(task), hold)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            await asyncio.sleep(0.05)
            task.cancel()
            writer.close()
    return handle


def run_probe(lb: Any, probe: Any, handler: Any, **bounds: Any) -> Any:
    async def work(port: int) -> Any:
        return await probe.probe(lb.host(), port, lb.ctx(**bounds))
    return lb.run(handler, work)[0]


# ---- SSH -----------------------------------------------------------------------------------

def test_ssh_reads_the_identification_and_sends_nothing(lb) -> None:
    got = bytearray()
    obs = run_probe(lb, SshProbe(), serve(lb, [b"SSH-2.0-HUAWEI-1.5\r\n", b"\x00\x00\x01\x14\x0a\x14"], got))
    assert obs.status is ProbeStatus.OK
    assert obs.data["identification"] == "SSH-2.0-HUAWEI-1.5"
    assert (obs.data["protoversion"], obs.data["softwareversion"], obs.data["comments"]) == ("2.0", "HUAWEI-1.5", "")
    assert obs.data["sent_identification"] is False
    assert bytes(got) == b""


def test_ssh_lines_before_the_identification_and_comments(lb) -> None:
    got = bytearray()
    lines = [b"Welcome to the lab\r\n", b"authorised use only\r\n", b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"]
    obs = run_probe(lb, SshProbe(), serve(lb, lines, got, pause=0.05))
    assert obs.status is ProbeStatus.OK
    assert obs.data["pre_lines"] == ["Welcome to the lab", "authorised use only"]
    assert obs.data["softwareversion"] == "OpenSSH_9.2p1" and obs.data["comments"] == "Debian-2+deb12u3"
    assert bytes(got) == b""


def test_ssh_silent_server_gets_our_identification_only(lb) -> None:
    """A server that waits for the client: we send one identification line, never a KEXINIT."""
    got = bytearray()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.extend(await reader.readuntil(b"\n"))
        writer.write(b"SSH-2.0-ZTE_SSH.2.0\n")
        await writer.drain()
        try:
            while chunk := await asyncio.wait_for(reader.read(4096), 2.0):
                got.extend(chunk)
        except TimeoutError:
            pass
        writer.close()
    obs = run_probe(lb, SshProbe(), handle)
    assert obs.status is ProbeStatus.OK and obs.data["softwareversion"] == "ZTE_SSH.2.0"
    assert obs.data["sent_identification"] is True
    assert bytes(got) == OUR_IDENTIFICATION
    assert SSH_MSG_KEXINIT not in got[len(OUR_IDENTIFICATION):]


def test_ssh_endless_line_without_newline_is_bounded(lb) -> None:
    got = bytearray()
    obs = run_probe(lb, SshProbe(), serve(lb, [b"SSH-2.0-"], got, forever=b"A"))
    assert obs.status is ProbeStatus.PROTOCOL_ERROR and "longer than 255" in obs.error
    assert len(obs.data["identification"]) == ssh_mod.IDENT_MAX
    assert obs.data["length"] <= 8192          # the documented read cap (docs/observations.md)
    assert bytes(got) == b""


def test_ssh_endless_lines_before_the_identification_are_bounded(lb) -> None:
    got = bytearray()
    obs = run_probe(lb, SshProbe(), serve(lb, [], got, forever=b"not yet\r\n"))
    assert obs.status is ProbeStatus.TOO_LARGE
    assert len(obs.data["pre_lines"]) == ssh_mod.MAX_PRE_LINES
    assert obs.data["length"] <= 8192
    assert bytes(got) == b""


def test_ssh_not_ssh_is_a_protocol_error(lb) -> None:
    obs = run_probe(lb, SshProbe(), serve(lb, [b"HTTP/1.0 200 OK\r\n\r\n"], bytearray(), hold=0.1))
    assert obs.status is ProbeStatus.PROTOCOL_ERROR


# ---- Telnet --------------------------------------------------------------------------------

ZXAN = (bytes((IAC, WILL, 1, IAC, DO, 31, IAC, DO, 24, IAC, DO, 32, IAC, WILL, 3))
        + b"*" * 48 + b"\r\nWelcome to ZXAN product C320 of ZTE Corporation\r\n" + b"*" * 48
        + b"\r\n\r\nUsername:")


def refusals_only(sent: bytes) -> list[tuple[int, int]]:
    """The (verb, option) triples of `sent`; fails if it holds anything but IAC WONT/DONT."""
    assert len(sent) % 3 == 0, sent
    triples = [tuple(sent[i:i + 3]) for i in range(0, len(sent), 3)]
    assert all(t[0] == IAC and t[1] in (WONT, DONT) for t in triples), sent
    return [(t[1], t[2]) for t in triples]


def test_telnet_refuses_every_option_and_strips_iac(lb) -> None:
    got = bytearray()
    obs = run_probe(lb, TelnetProbe(), serve(lb, [ZXAN], got))
    assert obs.status is ProbeStatus.OK
    assert obs.data["banner"].startswith("*" * 48 + "\r\nWelcome to ZXAN product C320 of ZTE Corporation")
    assert obs.data["banner"].endswith("Username:") and "\ufffd" not in obs.data["banner"]
    assert obs.data["negotiation"] == ["WILL ECHO", "DO NAWS", "DO TTYPE", "DO TSPEED", "WILL SGA"]
    assert refusals_only(bytes(got)) == [(DONT, 1), (WONT, 31), (WONT, 24), (WONT, 32), (DONT, 3)]
    assert obs.data["refused"] == 5


def test_telnet_waits_for_a_banner_after_negotiation(lb) -> None:
    """A server that negotiates first and prints its prompt later is read to the prompt."""
    got = bytearray()
    chunks = [bytes((IAC, DO, 24, IAC, WILL, 1)), b"\r\nUser Access Verification\r\n\r\nUsername: "]
    obs = run_probe(lb, TelnetProbe(), serve(lb, chunks, got, pause=0.5))
    assert obs.data["banner"] == "\r\nUser Access Verification\r\n\r\nUsername: "
    assert refusals_only(bytes(got)) == [(WONT, 24), (DONT, 1)]


def test_telnet_iac_flood_is_bounded_and_refused_once_per_option(lb) -> None:
    got = bytearray()
    flood = bytes(b for option in range(256) for b in (IAC, DO, option, IAC, WILL, option))
    obs = run_probe(lb, TelnetProbe(), serve(lb, [], got, forever=flood))
    assert obs.status is ProbeStatus.TOO_LARGE
    pairs = refusals_only(bytes(got))
    assert len(pairs) == len(set(pairs)) == telnet_mod.MAX_REFUSALS
    assert obs.data["banner"] == "" and len(obs.data["negotiation"]) == telnet_mod.MAX_RECORDED


def test_telnet_repeated_request_is_refused_once(lb) -> None:
    got = bytearray()
    again = bytes((IAC, DO, 1)) * 200 + b"login: "
    obs = run_probe(lb, TelnetProbe(), serve(lb, [again], got))
    assert refusals_only(bytes(got)) == [(WONT, 1)]
    assert obs.data["banner"] == "login: "


@pytest.mark.parametrize("chunks, text", [
    ([bytes((IAC, SB, 24, 1, IAC, IAC, 7, IAC, SE)) + b"ok"], "ok"),          # subnegotiation skipped
    ([b"a" + bytes((IAC, IAC)) + b"b"], "a\xffb"),                             # escaped 0xff is data
    ([b"x\r\x00y", bytes((IAC,)), bytes((DO,)), bytes((1,)) + b"z"], "x\ryz"),  # NUL dropped, split IAC
])
def test_telnet_stream_text(chunks: list[bytes], text: str) -> None:
    stream = TelnetStream()
    for chunk in chunks:
        stream.feed(chunk)
    assert stream.text.decode("latin-1") == text


# ---- properties: whatever the device sends -------------------------------------------------

telnet_bytes = st.lists(st.one_of(st.binary(max_size=64), st.sampled_from(
    [bytes((IAC,)), bytes((IAC, DO)), bytes((IAC, WILL, 1)), bytes((IAC, SB)), bytes((IAC, SE)),
     bytes((IAC, IAC)), b"login: ", b"\r\x00"])), max_size=200).map(b"".join)


@pytest.mark.fuzz
@FUZZ
@given(data=telnet_bytes, cuts=st.lists(st.integers(0, 20000), max_size=8))
def test_telnet_stream_any_bytes_any_chunking(data: bytes, cuts: list[int]) -> None:
    """Chunking never changes the result; only refusals come out, each once; text is capped."""
    whole = TelnetStream()
    sent_whole = whole.feed(data)
    parts, last = TelnetStream(), 0
    sent = b""
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        sent += parts.feed(data[last:cut])
        last = cut
    assert (bytes(parts.text), parts.requests, sent) == (bytes(whole.text), whole.requests, sent_whole)
    pairs = refusals_only(sent)
    assert len(pairs) == len(set(pairs)) <= telnet_mod.MAX_REFUSALS
    assert len(whole.text) <= telnet_mod.MAX_TEXT and len(whole.requests) <= telnet_mod.MAX_RECORDED


async def identification_of(data: bytes) -> tuple[str | None, ProbeFailure | None, dict[str, Any]]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    found: dict[str, Any] = {}
    try:
        return await read_identification(ByteStream(reader, ssh_mod.MAX_TOTAL), found), None, found
    except ProbeFailure as exc:
        return None, exc, found


@pytest.mark.fuzz
@FUZZ
@given(lines=st.lists(st.one_of(st.binary(max_size=400), st.sampled_from(
    [b"SSH-2.0-x\r\n", b"SSH-", b"\n", b"SSH-2.0-" + b"A" * 300 + b"\n"])), max_size=60).map(b"".join))
def test_ssh_identification_any_bytes(lines: bytes) -> None:
    line, failure, found = asyncio.run(identification_of(lines))
    if failure is None:
        assert line is not None and line.startswith("SSH-") and len(line) <= ssh_mod.IDENT_MAX
    else:
        assert failure.status in (ProbeStatus.PROTOCOL_ERROR, ProbeStatus.TOO_LARGE)
    assert len(found.get("pre_lines", ())) <= ssh_mod.MAX_PRE_LINES
    assert all(len(p) <= ssh_mod.IDENT_MAX for p in found.get("pre_lines", ()))
    assert len(found.get("identification", "")) <= ssh_mod.IDENT_MAX

"""HTTP and RTSP exchanges read from captured streams: the client's requests, the server's answers.

Answers are parsed by the probes' own reader (`probes._io.read_message`, run over captured
bytes), one after the other on a connection, and paired with the requests in order (HTTP/1.1
and RTSP answer in request order, RFC 9112 §9.3.2, RFC 2326 §10). At most `MAX_ANSWERS`
per connection: the first answer carries the HTTP banner; on RTSP the realm typically comes
with the second (DESCRIBE after OPTIONS).

An answer counts once it is complete: its framing (Content-Length, chunked end, no body by
status) is satisfied, another answer follows it, or no more bytes will come (`final`: the
server closed, reset, reached the byte cap, or the capture ended), in which case what came is
read as the probe reads an answer the device cut short.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from camaudit.model import Bounds
from camaudit.observation import Observation, ProbeStatus
from camaudit.passive.tcp_decoder import StreamDecoder, byte_stream, run_now
from camaudit.passive.tcp_flows import Flow
from camaudit.probes._io import ProbeFailure, Response, read_message
from camaudit.redact import mask_secrets

MAX_ANSWERS = 4
BOUNDS = Bounds()   # the probes' header and body caps
STREAM_CAP = BOUNDS.max_header_bytes + BOUNDS.max_bytes + 1   # as the probes read one answer
CLIENT_CAP = 8192   # request bytes kept: the first requests' lines and headers
_REQUEST_LINE = re.compile(rb"([A-Z][A-Z_-]{0,31}) ([!-~]{1,2048}) (?:HTTP|RTSP)/\d\.\d\r?\n")
_HEAD_END = re.compile(rb"\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length[ \t]*:[ \t]*(\d{1,9})[ \t]*\r?$")


@dataclass(frozen=True, slots=True)
class Request:
    """What the client asked: method and target (credentials in the query masked)."""

    method: str
    target: str


@dataclass(slots=True)
class Answer:
    """One answer as the probes record it, with the request it answers when that was captured."""

    resp: Response
    status: ProbeStatus
    error: str | None
    request: Request | None


def requests_of(data: bytes) -> list[Request]:
    """The requests at the start of a client stream, in order; stops at anything else."""
    out: list[Request] = []
    pos = 0
    while len(out) < MAX_ANSWERS:
        line = _REQUEST_LINE.match(data, pos)
        if line is None:
            break
        out.append(Request(line.group(1).decode(), mask_secrets(line.group(2).decode())))
        end = _HEAD_END.search(data, line.end() - 1)
        if end is None:
            break
        length = _CONTENT_LENGTH.search(data, line.end(), end.start() + 1)
        pos = end.end() + (int(length.group(1)) if length else 0)
    return out


def read_answers(data: bytes, start: int, index: int, requests: list[Request], *,
                 final: bool, body_without_length: bool) -> tuple[list[Answer], int, int, bool]:
    """The complete answers in `data[start:]`, the `index`-th of the connection first.

    Returns (answers, where the next one starts, its index, whether the connection is
    through: garbage, a protocol switch, a cut answer or `MAX_ANSWERS` reached).
    """
    out: list[Answer] = []
    while index < MAX_ANSWERS and start < len(data):
        request = requests[index] if index < len(requests) else None
        stream = byte_stream(data[start:], len(data))
        resp = Response()
        status, error = ProbeStatus.OK, None
        try:
            run_now(read_message(stream, BOUNDS, resp, body_without_length=body_without_length,
                                 head_request=request is not None and request.method == "HEAD"))
        except ProbeFailure as exc:
            status, error = exc.status, str(exc)
        if not resp.status:
            if not final and _may_start_answer(data[start:]) and _HEAD_END.search(data, start) is None:
                return out, start, index, False     # the head is still arriving
            return out, start, index, True          # not HTTP/RTSP (or garbage after the answers)
        used = stream.taken - stream.buffered
        # A body longer than the cap is known from its Content-Length or chunk size at once;
        # the answer is read when the cap's worth of it has come.
        cut_early = (status is ProbeStatus.TOO_LARGE and len(resp.body) < BOUNDS.max_bytes
                     and _HEAD_END.search(data, start, start + BOUNDS.max_header_bytes) is not None)
        ready = final or (status is not ProbeStatus.OK and not cut_early) or start + used < len(data) or (
            resp.complete and _framed(resp, data[start:start + used], request))
        if not ready:
            return out, start, index, False
        start += used
        if 100 <= resp.status < 200 and resp.status != 101 and status is ProbeStatus.OK:
            continue                         # an interim answer: the final one answers the same request
        if not resp.complete and status is ProbeStatus.OK:
            status, error = ProbeStatus.TIMEOUT, "the capture holds only the start of this answer"
        out.append(Answer(resp, status, error, request))
        index += 1
        if status is not ProbeStatus.OK or resp.status == 101:
            return out, start, index, True
    return out, start, index, index >= MAX_ANSWERS


def _may_start_answer(data: bytes) -> bool:
    """Whether bytes could still grow into an HTTP/RTSP status line (the probes' early test)."""
    head = data[:8].lstrip()[:5].upper()
    return b"HTTP/".startswith(head) or b"RTSP/".startswith(head)


def _framed(resp: Response, raw: bytes, request: Request | None) -> bool:
    """Whether a complete-looking answer really ended, rather than the captured bytes so far."""
    if not _HEAD_END.search(raw):
        return False                         # headers not ended yet
    if (request is not None and request.method == "HEAD") or resp.status in (204, 304) or resp.status < 200:
        return True
    if resp.protocol.startswith("RTSP"):
        return True                          # RTSP: no Content-Length means no body (RFC 2326 §12.14)
    te = (resp.header("Transfer-Encoding") or "").lower()
    return "chunked" in te or (resp.header("Content-Length") or "").strip().isdigit()


class ExchangeDecoder(StreamDecoder):
    """A decoder of HTTP-framed answers (HTTP, RTSP): one observation per answer."""

    source: ClassVar[str]
    body_without_length: ClassVar[bool]       # HTTP reads an unframed body to the close; RTSP has none
    server_cap: ClassVar[int] = STREAM_CAP
    client_cap: ClassVar[int] = CLIENT_CAP

    def read(self, flow: Flow, final: bool) -> tuple[list[Observation], bool]:
        start, index = flow.state if isinstance(flow.state, tuple) else (0, 0)
        server = flow.server.prefix()
        if not final and _HEAD_END.search(server, start) is None and len(server) - start < BOUNDS.max_header_bytes:
            return [], False                  # no answer can be complete before its head is
        answers, start, index, through = read_answers(server, start, index,
                                               requests_of(flow.client.prefix()), final=final,
                                               body_without_length=self.body_without_length)
        if through and not answers and start == 0:
            self.counts[f"not-{self.source}"] += 1
        flow.state = (start, index)
        out = []
        for answer in answers:
            data, status, error = self.data_of(answer)
            out.append(self.observation(flow, self.source, data, status, error))
        return out, through

    @abstractmethod
    def data_of(self, answer: Answer) -> tuple[dict[str, Any], ProbeStatus, str | None]:
        """The probe's `data` for one answer, and the status and error it records."""

"""Property tests: the bounded HTTP/RTSP reader and the XML parsers never crash and never
hold more than their caps, whatever bytes a device sends."""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camaudit.model import Datagram
from camaudit.model import Bounds
from camaudit.probes._io import ProbeFailure, Response, read_response
from camaudit.probes.onvif import merge_replies

EXAMPLES = int(os.environ.get("CAMAUDIT_FUZZ_EXAMPLES", "300"))
BOUNDS = Bounds(max_bytes=2048, max_header_bytes=512)

heads = st.sampled_from([b"", b"HTTP/1.1 200 OK\r\n", b"RTSP/1.0 401\r\n", b"HTTP/1.0 200\n",
                         b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                         b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n"])


async def read(data: bytes, body_without_length: bool) -> tuple[Response, ProbeFailure | None]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    resp = Response()
    try:
        await read_response(reader, BOUNDS, resp, body_without_length=body_without_length)
    except ProbeFailure as exc:
        return resp, exc
    return resp, None


@pytest.mark.fuzz
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=heads, tail=st.binary(max_size=6000), framed=st.booleans())
def test_reader_never_crashes_and_respects_caps(head, tail, framed):
    resp, failure = asyncio.run(read(head + tail, framed))
    assert len(resp.body) <= BOUNDS.max_bytes
    assert sum(len(k) + len(v) for k, v in resp.headers.items()) <= 2 * BOUNDS.max_header_bytes
    if failure is None:
        assert resp.status >= 100
    else:
        assert failure.status.value in {"protocol-error", "too-large"}


@pytest.mark.fuzz
@settings(max_examples=EXAMPLES, deadline=None)
@given(payloads=st.lists(st.binary(max_size=3000) | st.text(max_size=500).map(str.encode), max_size=20))
def test_discovery_merge_never_crashes(payloads):
    matches = merge_replies(Datagram("198.18.0.9", 3702, p) for p in payloads)
    for m in matches:
        obs = m.observation("onvif", None)
        assert obs.status.value in {"ok", "protocol-error", "too-large"}

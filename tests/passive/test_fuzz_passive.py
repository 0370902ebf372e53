"""Property tests: arbitrary frames through the whole frame decoder, arbitrary bytes after a valid
capture header through the reader. Nothing raises; the reader ends or names the damage."""

from __future__ import annotations

import io
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camaudit.passive.capture_file import Capture, NotACapture
from camaudit.passive.decode import FrameDecoder

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("CAMAUDIT_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LINKTYPES = [0, 1, 12, 101, 113, 228, 229, 276]
# frame starts that reach the decoders: Ethernet + IPv4/UDP to each decoder's port, ARP, LLDP, LLC
HEADS = [bytes(12) + b"\x08\x00\x45\x00\x05\xdc" + bytes(5) + b"\x11" + bytes(10) + struct.pack("!HH", port, port)
         for port in (67, 161, 1900, 3702, 5353, 37020, 37810)] + \
        [bytes(12) + b"\x08\x06\x00\x01\x08\x00\x06\x04", bytes(12) + b"\x88\xcc\x02\x07\x04",
         bytes(12) + b"\x00\x40\xaa\xaa\x03\x00\x00\x0c\x20\x00", b""]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(HEADS), st.binary(max_size=1500), st.sampled_from(LINKTYPES)), max_size=20))
def test_any_frames_through_the_frame_decoder(frames: list[tuple[bytes, bytes, int]]) -> None:
    fd = FrameDecoder()
    for head, body, linktype in frames:
        for obs in fd.feed(0.0, head + body, linktype):
            obs.to_json()
    fd.finish()
    assert not fd.stats.errors


@FUZZ
@given(st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a"]), st.binary(max_size=4000))
def test_any_bytes_after_a_capture_magic(magic: bytes, rest: bytes) -> None:
    try:
        cap = Capture(io.BytesIO(magic + rest), "fuzz")   # type: ignore[arg-type]
    except NotACapture:
        return
    for _ts, _linktype, frame in cap.records():
        assert len(frame) <= 1 << 20
    assert cap.damage is None or "byte" in cap.damage

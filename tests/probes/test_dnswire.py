"""The bounded DNS reader behind the mDNS probe, on hand-made hostile messages.

Each case is a message a device could send; each must end in a `DnsError` naming the
problem, or in a bounded result — never a hang, a RecursionError or an IndexError.
"""

from __future__ import annotations

import struct

import pytest

from camaudit.probes._dnswire import (MAX_POINTERS, MAX_RECORDS, DnsError, encode_name, parse_message,
                                      read_name)

RESPONSE = struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0)


def header(answers: int) -> bytes:
    return struct.pack("!HHHHHH", 0, 0x8400, 0, answers, 0, 0)


def a_record(name: bytes) -> bytes:
    return name + struct.pack("!HHIH", 1, 1, 120, 4) + bytes([198, 18, 0, 70])


@pytest.mark.parametrize("data, problem", [
    (RESPONSE + b"\xc0\x0c" + b"\x00" * 10, "loop"),                       # name points at itself
    (RESPONSE + b"\x01a\xc0\x0c" + b"\x00" * 10, "loop"),                  # back to its own first label
    (RESPONSE + b"\xc0\x10\x00\x00\x01a\xc0\x0c", "loop"),                 # forward into a cycle
    (RESPONSE + b"\x41" + b"x" * 65, "label type 0x40"),                   # RFC 6891 extended label
    (RESPONSE + (b"\x3f" + b"x" * 63) * 5 + b"\x00", "longer than 255"),
    (RESPONSE + b"\x05ab", "past the end"),
    (RESPONSE + b"\x01a\x00" + struct.pack("!HHIH", 16, 1, 1, 0xFFFF) + b"\x02kv", "rdlength 65535"),
    (b"\x00\x00\x84\x00", "shorter than a DNS header"),
])
def test_hostile_messages_are_refused_with_the_reason(data: bytes, problem: str) -> None:
    with pytest.raises(DnsError, match=problem):
        parse_message(data)


def test_a_chain_of_backward_pointers_stops_at_the_jump_cap() -> None:
    # each name is one pointer to the one before it: legal pointers, but 40 jumps deep
    data = bytearray(RESPONSE + b"\x01a\x00")
    starts = [12]
    for _ in range(40):
        starts.append(len(data))
        data += struct.pack("!H", 0xC000 | starts[-2])
    with pytest.raises(DnsError, match=f"more than {MAX_POINTERS}"):
        read_name(bytes(data), starts[-1])
    assert read_name(bytes(data), starts[3]) == (("a",), starts[3] + 2)


def test_a_header_claiming_65535_records_reads_at_most_the_cap() -> None:
    message = parse_message(header(0xFFFF) + a_record(b"\x01a\x00") * (MAX_RECORDS + 100))
    assert len(message.records) == MAX_RECORDS and message.claimed == 0xFFFF


def test_records_before_a_cut_are_kept_and_compression_back_is_followed() -> None:
    name = encode_name(("cam", "local"))
    data = header(3) + a_record(name) + a_record(b"\xc0\x0c") + b"\x01"
    message = parse_message(data)
    assert [(r.name, r.value) for r in message.records] == [(("cam", "local"), "198.18.0.70")] * 2

"""The SNMP probe's BER reader and writer, checked against pysnmp's codec and fed hostile bytes."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto.api import v2c

from camaudit.probes import snmp_ber

COMMUNITY = "lab-ro"


def response(request_id: int, varbinds: list[tuple[str, object]]) -> bytes:
    """A GetResponse encoded by pysnmp (the reference codec)."""
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, COMMUNITY)
    pdu = v2c.GetResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_varbinds(pdu, varbinds)
    v2c.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)


def test_requests_decode_in_pysnmp_as_asked() -> None:
    wire = snmp_ber.request(COMMUNITY, snmp_ber.GET_BULK, list(snmp_ber.ENTITY), 4242, max_repetitions=3)
    msg, rest = decoder.decode(wire, asn1Spec=v2c.Message())
    pdu = v2c.apiMessage.get_pdu(msg)
    assert rest == b"" and bytes(v2c.apiMessage.get_community(msg)) == COMMUNITY.encode()
    assert pdu.isSameTypeWith(v2c.GetBulkRequestPDU())
    assert int(v2c.apiBulkPDU.get_max_repetitions(pdu)) == 3 and int(v2c.apiPDU.get_request_id(pdu)) == 4242
    assert [str(oid) for oid, _ in v2c.apiPDU.get_varbinds(pdu)] == list(snmp_ber.ENTITY)


def test_pysnmp_responses_parse_with_types_exceptions_and_caps() -> None:
    long_text = "é" * 5000
    wire = response(7, [("1.3.6.1.2.1.1.1.0", v2c.OctetString(long_text.encode())),
                        ("1.3.6.1.2.1.1.2.0", v2c.ObjectIdentifier("1.3.6.1.4.1.2011.2.23.306")),
                        ("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(4294967295)),
                        ("1.3.6.1.2.1.1.5.0", v2c.NoSuchObject(""))])
    status, varbinds = snmp_ber.parse_response(wire, 7)
    assert status == 0
    values = dict(varbinds)
    assert values["1.3.6.1.2.1.1.1.0"] == "é" * snmp_ber.MAX_VALUE_CHARS
    assert values["1.3.6.1.2.1.1.2.0"] == "1.3.6.1.4.1.2011.2.23.306"
    assert values["1.3.6.1.2.1.1.3.0"] == "4294967295" and values["1.3.6.1.2.1.1.5.0"] is None


def test_a_reply_to_another_request_is_refused() -> None:
    try:
        snmp_ber.parse_response(response(8, []), 9)
    except snmp_ber.BerError as exc:
        assert "not 9" in str(exc)
    else:
        raise AssertionError("a reply to request 8 was taken for request 9")


def test_absurd_lengths_cost_nothing() -> None:
    """A 4-octet length of 2^31-1 (and of 2^32-1 deep inside) is refused before any copy."""
    tracemalloc.start()
    for wire in (bytes.fromhex("30847fffffff020101"), bytes.fromhex("3084ffffffff") + b"\0" * 64,
                 response(1, [("1.3.6.1.2.1.1.1.0", v2c.OctetString(b"x"))])[:-1] + b"\x84"):
        try:
            snmp_ber.parse_response(wire, 1)
        except snmp_ber.BerError:
            pass
    assert tracemalloc.get_traced_memory()[1] < 64 * 1024
    tracemalloc.stop()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_a_ber_error_or_a_reply(data: bytes) -> None:
    try:
        snmp_ber.parse_response(data, 1)
    except snmp_ber.BerError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 200), st.integers(0, 255))
def test_every_single_byte_corruption_of_a_real_reply_is_handled(where: int, byte: int) -> None:
    wire = bytearray(response(1, [("1.3.6.1.2.1.1.1.0", v2c.OctetString(b"Huawei Versatile Routing Platform")),
                                  ("1.3.6.1.2.1.1.2.0", v2c.ObjectIdentifier("1.3.6.1.4.1.2011.2.23.306"))]))
    wire[where % len(wire)] = byte
    try:
        snmp_ber.parse_response(bytes(wire), 1)
    except snmp_ber.BerError:
        pass

"""Fuzzing every parser that reads input camaudit does not control.

Device input (HTTP/RTSP heads — whole answers through the bounded reader are fuzzed in
tests/probes/test_fuzz_reader.py —, SOAP/WS-Discovery XML, SADP XML, DHIP frames, TLS
certificates), files a user or colleague hands over (nmap XML, observation JSON Lines, config),
and data files that extend the tool (fingerprints, policies, personas). The property is the
same everywhere: the parser returns a bounded result or raises its own documented error —
never anything else, never an unbounded value. Structured generators (XML-ish trees, JSON,
mutations of the shipped TOML files) reach deeper than random bytes; random bytes are mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from camaudit.model import Datagram
from camaudit.observation import Observation, ProbeStatus, read_jsonl

pytestmark = pytest.mark.fuzz
# Short in `make test` (default), long in `make fuzz` (CAMAUDIT_FUZZ_EXAMPLES=20000).
EXAMPLES = int(os.environ.get("CAMAUDIT_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])
REPO = Path(__file__).resolve().parents[2]
STATUSES = set(ProbeStatus)

# ---- generators -------------------------------------------------------------------------

TAGS = ["ProbeMatch", "ProbeMatches", "Envelope", "Body", "Header", "Fault", "Code", "Value", "Subcode",
        "Reason", "Text", "Types", "Scopes", "XAddrs", "Address", "EndpointReference", "DeviceType",
        "DeviceDescription", "DeviceSN", "MAC", "SoftwareVersion", "UTCDateTime", "Year", "Month", "Day",
        "Hour", "Minute", "Second", "GetDeviceInformationResponse", "Manufacturer", "Model",
        "FirmwareVersion", "SerialNumber", "nmaprun", "host", "status", "address", "ports", "port",
        "state", "service", "cpe", "hostnames", "hostname", "os", "osmatch", "osclass", "x"]
PREFIXES = ["", "s:", "env:", "d:", "tds:", "wsdd:", "SOAP-ENV:", "a:b:"]
HOSTILE_PROLOGS = [
    b"",
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://198.18.0.99:9/x.dtd">',
    b'<?xml version="1.0" encoding="UTF-16"?>',
    b'<?xml version="1.0" encoding="bogus"?>',
]
text_values = st.one_of(st.text(max_size=80), st.sampled_from(
    ["&xxe;", "&b;", "]]>", "<![CDATA[x]]>", "\x00", "\ufffd", "2026", "-1", "99999999999999999999",
     "c0-56-e3-10-00-10", "zz:zz", "urn:uuid:1", "http://198.18.0.1/", "onvif://www.onvif.org/name/x"]))


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;") if value not in ("&xxe;", "&b;") else value


TAG_NAMES = st.tuples(st.sampled_from(PREFIXES), st.sampled_from(TAGS)).map("".join)
ATTRIBUTES = st.tuples(st.sampled_from(["", ' state="up"', ' addrtype="ipv4" addr="198.18.0.9"', ' portid="80"',
                                         ' protocol="tcp"', ' state="open"', ' name="&xxe;"', ' xmlns:s="x"',
                                         ' addrtype="mac" addr="zz"', ' portid="99999"', ' a="<"',
                                         ' accuracy="100"', ' accuracy="x"', ' vendor="Hikvision" ostype="VRP"']))
# A document is a flat list of events (open, text, close) replayed against a tag stack: cheap to
# generate and shrink, yet it reaches nesting, mismatched and unclosed tags, entities and text.
EVENTS = st.lists(st.one_of(st.tuples(st.just("open"), TAG_NAMES, ATTRIBUTES.map("".join)),
                            st.tuples(st.just("text"), text_values, st.just("")),
                            st.tuples(st.just("close"), st.just(""), st.just(""))), max_size=24)


def _document(events: list[tuple[str, str, str]], close_all: bool) -> str:
    out, stack = [], []
    for kind, value, attrs in events:
        if kind == "open":
            out.append(f"<{value}{attrs}>")
            stack.append(value)
        elif kind == "text":
            out.append(_escape(value))
        elif stack:
            out.append(f"</{stack.pop()}>")
    if close_all:
        out.extend(f"</{tag}>" for tag in reversed(stack))
    return "".join(out)


def xml_trees() -> st.SearchStrategy[str]:
    return st.builds(_document, EVENTS, st.booleans())


@st.composite
def xml_documents(draw: st.DrawFn) -> bytes:
    doc = draw(st.sampled_from(HOSTILE_PROLOGS)) + draw(xml_trees()).encode("utf-8", "surrogatepass")
    cut = draw(st.one_of(st.none(), st.integers(0, len(doc))))
    if cut is not None and draw(st.booleans()):
        doc = doc[:cut]                                  # truncated, as a capped datagram is
    flips = draw(st.lists(st.tuples(st.integers(0, max(0, len(doc) - 1)), st.integers(0, 255)), max_size=3))
    data = bytearray(doc)
    for i, b in flips:
        if data:
            data[i] = b
    return bytes(data)


any_bytes = st.binary(max_size=3000)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
                           lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
                           max_leaves=30)

# TOML values as text, for mutating the shipped data files.
toml_values = st.one_of(
    st.integers(-2**70, 2**70).map(str), st.floats(allow_nan=False).map(lambda f: repr(f).replace("inf", "inf")),
    st.booleans().map(lambda b: str(b).lower()), st.text(max_size=40).map(json.dumps),
    st.sampled_from(["[]", "{}", '["a", 1]', "[[1], [2]]", '{ a = 1 }', "2023-02-09", "1979-05-27T07:32:00Z",
                     "'(?P<x>'", "'(a+)+$'", "'[z-a]'", '"\\u0000"', "nan", "-inf", '"""x"""', "0x7fffffff"]))


@st.composite
def mutated_toml(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "value", "delete", "duplicate", "key", "garbage"]))
        if op == "value" and "=" in lines[i]:
            lines[i] = lines[i].split("=", 1)[0] + "= " + draw(toml_values)
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "key":
            lines.insert(i, draw(st.sampled_from(["id", "field", "pattern", "weight", "vendor", "port", "behaviour",
                                                  "ip", "mac", "oui", "segment", "rate", "targets", "entity",
                                                  "zzz", "[[fingerprint]]", "[net]", "[[http]]"]))
                         + " = " + draw(toml_values))
        else:
            lines.insert(i, draw(st.text(alphabet=string.printable, max_size=30)))
    return "\n".join(lines) + "\n"


def _shipped(pattern: str) -> list[Path]:
    return sorted(REPO.glob(pattern))


# ---- device input ------------------------------------------------------------------------

@FUZZ
@given(head=st.one_of(any_bytes, st.lists(st.one_of(
    st.sampled_from([b"HTTP/1.1 200 OK", b"RTSP/1.0 401 Unauthorized", b"HTTP/1.0 302", b" folded",
                     b"Server: App-webs/", b"\tcont", b": empty-name", b"X" * 300, b"Content-Length: -1"]),
    st.binary(max_size=60)), max_size=200).map(b"\r\n".join)))
def test_http_and_rtsp_heads(head: bytes, executed: Counter[str]) -> None:
    from camaudit.probes._io import MAX_HEADER_LINES, ProbeFailure, Response, parse_head

    executed["http/rtsp head"] += 1
    resp = Response()
    try:
        parse_head(head, resp)
    except ProbeFailure as exc:
        assert exc.status is ProbeStatus.PROTOCOL_ERROR
        return
    assert 100 <= resp.status <= 999 and resp.protocol[:4] in ("HTTP", "RTSP")
    assert len(resp.headers) <= MAX_HEADER_LINES
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in resp.headers.items())


@FUZZ
@given(doc=st.one_of(xml_documents(), any_bytes))
def test_onvif_soap_answers(doc: bytes, executed: Counter[str]) -> None:
    from camaudit.probes._io import ProbeFailure
    from camaudit.probes.onvif import DEVICE_INFO_FIELDS, MAX_ITEM_CHARS, child_text, parse_xml, soap_fault, utc_time

    executed["onvif soap"] += 1
    try:
        root = parse_xml(doc)
    except ProbeFailure as exc:
        assert exc.status is ProbeStatus.PROTOCOL_ERROR
        return
    fault = soap_fault(root)
    assert fault is None or len(fault) <= MAX_ITEM_CHARS
    when = utc_time(root)
    assert when is None or when.endswith("Z")
    for tag in DEVICE_INFO_FIELDS:
        assert isinstance(child_text(root, tag), str)


@FUZZ
@given(datagrams=st.lists(st.tuples(st.sampled_from(["198.18.0.10", "198.18.0.11", "198.18.0.12"]),
                                    st.one_of(xml_documents(), any_bytes), st.booleans()), max_size=40))
def test_ws_discovery_replies(datagrams: list[tuple[str, bytes, bool]], executed: Counter[str]) -> None:
    from camaudit.probes.onvif import MAX_ITEM_CHARS, MAX_ITEMS, merge_replies

    executed["ws-discovery"] += len(datagrams) or 1
    matches = merge_replies([Datagram(ip, 3702, data, cut) for ip, data, cut in datagrams])
    assert len(matches) <= 3
    for m in matches:
        for items in (m.types, m.scopes, m.xaddrs):
            assert len(items) <= MAX_ITEMS and all(len(i) <= MAX_ITEM_CHARS for i in items)
        obs = m.observation("onvif", None)
        assert obs.status in STATUSES


@FUZZ
@given(data=st.one_of(xml_documents(), any_bytes), cut=st.booleans())
def test_sadp_replies(data: bytes, cut: bool, executed: Counter[str]) -> None:
    from camaudit.probes import sadp

    executed["sadp"] += 1
    obs = sadp.observation(Datagram("198.18.0.10", sadp.PORT, data, cut))
    assert obs.status in STATUSES and obs.ip == "198.18.0.10"
    fields = obs.data.get("fields", {})
    assert len(fields) <= sadp.MAX_FIELDS
    assert all(len(k) <= 64 and len(v) <= sadp.MAX_FIELD_CHARS for k, v in fields.items())



def _mdns_response() -> bytes:
    """A well-formed DNS-SD response (the shape Hikvision cameras send), to mutate."""
    import struct
    from camaudit.probes._dnswire import encode_name
    inst = ("HIKVISION DS-2CD2722FWD-IZS - 733050075", "_CGI", "_tcp", "local")
    host = ("DS-2CD2722FWD-IZS20170321BBWR733050075", "local")

    def rr(name: tuple[str, ...], rtype: int, rdata: bytes) -> bytes:
        return encode_name(name) + struct.pack("!HHIH", rtype, 1, 120, len(rdata)) + rdata
    return (struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 3) + rr(inst[1:], 12, encode_name(inst))
            + rr(inst, 33, struct.pack("!HHH", 0, 0, 80) + encode_name(host))
            + rr(inst, 16, b"\x06path=/") + rr(host, 1, bytes([198, 18, 0, 70])))


MDNS_SAMPLE = _mdns_response()
mdns_datagrams = st.one_of(
    any_bytes,
    st.lists(st.tuples(st.integers(0, len(MDNS_SAMPLE) - 1), st.integers(0, 255)), max_size=8).map(
        lambda edits: bytes(b if i not in dict(edits) else dict(edits)[i] for i, b in enumerate(MDNS_SAMPLE))),
    st.integers(12, len(MDNS_SAMPLE)).map(lambda n: MDNS_SAMPLE[:n]),
    st.binary(max_size=64).map(lambda tail: MDNS_SAMPLE[:12] + tail))


@FUZZ
@given(datagrams=st.lists(st.tuples(st.sampled_from(["198.18.0.70", "198.18.0.71"]), mdns_datagrams,
                                    st.booleans()), max_size=20))
def test_mdns_replies(datagrams: list[tuple[str, bytes, bool]], executed: Counter[str]) -> None:
    from camaudit.probes import mdns

    executed["mdns"] += len(datagrams) or 1
    for device in mdns.merge_replies([Datagram(ip, mdns.PORT, data, cut) for ip, data, cut in datagrams]):
        obs = device.observation(None)
        if obs is None:
            continue
        assert obs.status in STATUSES
        assert len(obs.data.get("services", [])) <= mdns.MAX_SERVICES
        for key in ("types", "hostnames", "addresses"):
            assert len(obs.data.get(key, [])) <= mdns.MAX_ITEMS
        for svc in obs.data.get("services", []):
            assert len(svc.get("txt", {})) <= mdns.MAX_TXT_KEYS
        json.dumps(obs.to_dict())

dhip_bodies = st.one_of(
    json_values.map(lambda v: json.dumps({"method": "client.notifyDevInfo", "params": {"deviceInfo": v}}).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 20000).map(lambda n: b'{"params":{"deviceInfo":' + b"[" * n),
    any_bytes)


@FUZZ
@given(body=dhip_bodies, length=st.one_of(st.none(), st.integers(0, 2**64 - 1)),
       magic=st.sampled_from([b"DHIP", b"DHIP", b"DHIQ", b""]), cut=st.booleans())
def test_dhip_replies(body: bytes, length: int | None, magic: bytes, cut: bool, executed: Counter[str]) -> None:
    import struct

    from camaudit.probes import dhip

    executed["dhip"] += 1
    n = len(body) if length is None else length
    frame = struct.pack("<I4s8xQQ", 32, magic.ljust(4, b"\0"), n, n) + body if magic else body
    obs = dhip.observation(Datagram("198.18.0.20", dhip.PORT, frame, cut))
    assert obs.status in STATUSES
    fields = obs.data.get("fields", {})
    assert len(fields) <= dhip.MAX_FIELDS
    json.dumps(obs.to_dict())                          # storable: JSON all the way down


@FUZZ
@given(der=st.one_of(any_bytes, st.sampled_from([b"0\x82\xff\xff", b"0\x03\x02\x01\x00", b"0" * 64])))
def test_tls_certificates(der: bytes, executed: Counter[str]) -> None:
    from camaudit.probes.tls import describe_certificate

    executed["tls certificate"] += 1
    try:
        described = describe_certificate(der)
    except ValueError:
        return
    assert described["sha256"] == hashlib.sha256(der).hexdigest()


@FUZZ
@given(body=st.one_of(any_bytes, st.text(max_size=300).map(lambda t: f"<title>{t}</title>".encode())),
       location=st.text(max_size=120))
def test_http_title_and_redirects(body: bytes, location: str, executed: Counter[str]) -> None:
    from camaudit.probes._io import Response
    from camaudit.probes.http import same_host_redirect, title_of

    executed["http title/redirect"] += 1
    assert len(title_of(body)) <= 1024 * 2
    path = same_host_redirect(Response(status=302, headers={"Location": location}), "198.18.0.10", 80, "http")
    assert path is None or path.startswith("/")


@FUZZ
@given(datagrams=st.lists(st.tuples(st.sampled_from(["198.18.0.60", "198.18.0.61"]), st.one_of(any_bytes, st.lists(
    st.one_of(st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.0 404 X", b"LOCATION: http://198.18.0.60:1/d.xml",
                               b"SERVER: Linux UPnP/1.0 Huawei-ATP-IGD", b"ST:", b"USN: uuid:x", b": v", b"X" * 600]),
              st.binary(max_size=60)), max_size=60).map(b"\r\n".join)), st.booleans()), max_size=30),
       location=st.one_of(st.text(max_size=120), st.sampled_from(["http://198.18.0.60:37215/d.xml", "http://[::1/",
                                                                  "http://198.18.0.60:99999/", "http://198.18.0.60/%00"])))
def test_ssdp_replies_and_locations(datagrams: list[tuple[str, bytes, bool]], location: str,
                                    executed: Counter[str]) -> None:
    from camaudit.probes import upnp
    from camaudit.probes.upnp_description import MAX_PATH_CHARS, MAX_VALUE_CHARS, description_target

    executed["ssdp"] += len(datagrams) or 1
    for dev in upnp.merge_replies([Datagram(ip, 1900, data, cut) for ip, data, cut in datagrams]):
        assert len(dev.st) <= upnp.MAX_ITEMS and len(dev.usn) <= upnp.MAX_ITEMS
        assert all(len(v) <= MAX_VALUE_CHARS for v in (dev.server, dev.location, *dev.st, *dev.usn))
        assert upnp.observation(dev, None, {}, dev.failure).status in STATUSES
    try:
        port, path = description_target(location, "198.18.0.60")
    except ValueError:
        return
    assert 1 <= port <= 65535 and path.startswith("/") and len(path) <= MAX_PATH_CHARS and path.isascii()


@FUZZ
@given(doc=st.one_of(xml_documents(), any_bytes, xml_trees().map(
    lambda t: f'<root xmlns="urn:schemas-upnp-org:device-1-0"><device>{t}</device></root>'.encode("utf-8", "surrogatepass"))))
def test_upnp_descriptions(doc: bytes, executed: Counter[str]) -> None:
    from camaudit.probes.upnp_description import MAX_DEVICE_TYPES, MAX_VALUE_CHARS, parse_description

    executed["upnp description"] += 1
    try:
        got = parse_description(doc)
    except ValueError:
        return
    types = got.pop("deviceTypes")
    assert isinstance(types, list) and len(types) <= MAX_DEVICE_TYPES
    assert all(isinstance(v, str) and len(v) <= MAX_VALUE_CHARS for v in got.values())

# ---- files handed to camaudit --------------------------------------------------------------

@FUZZ
@given(doc=st.one_of(xml_documents(), any_bytes, xml_trees().map(
    lambda t: f"<nmaprun><host><status state=\"up\"/>{t}</host></nmaprun>".encode())))
def test_nmap_xml_import(doc: bytes, executed: Counter[str]) -> None:
    from camaudit.imports.nmap_xml import NmapXmlError, observations, read_bytes

    executed["nmap xml"] += 1
    try:
        hosts = read_bytes(doc)
    except NmapXmlError:
        return
    for obs in observations(hosts):
        assert obs.ip or obs.mac


@FUZZ
@given(lines=st.lists(st.one_of(
    json_values.map(json.dumps),
    st.fixed_dictionaries({"v": st.sampled_from([1, 1, 2, "1"]), "source": st.sampled_from(["http", "sadp", "", 5]),
                           "ip": st.sampled_from(["198.18.0.10", None, 7, ""]),
                           "mac": st.sampled_from(["c0:56:e3:10:00:10", "zz", None, "C0-56-E3-10-00-10"]),
                           "port": st.sampled_from([80, -1, 70000, None, "80", True]),
                           "status": st.sampled_from(["ok", "timeout", "bogus", None]),
                           "data": json_values}).map(json.dumps),
    st.text(max_size=60)), max_size=20))
def test_observation_json_lines(lines: list[str], executed: Counter[str]) -> None:
    import io

    from camaudit.observation import ReadError

    executed["observation jsonl"] += len(lines) or 1
    errors: list[ReadError] = []
    for obs in read_jsonl(io.StringIO("\n".join(line.replace("\n", " ") for line in lines)), errors):
        again = Observation.from_dict(json.loads(obs.to_json()))
        assert again.to_dict() == obs.to_dict()


@FUZZ
@given(observations=st.lists(st.builds(
    Observation,
    source=st.sampled_from(["arp", "http", "https", "rtsp", "onvif", "sadp", "dhip", "tls", "banner", "nmap", "x"]),
    ip=st.sampled_from(["198.18.0.10", "198.18.0.11", None]),
    mac=st.sampled_from(["c0:56:e3:10:00:10", "02:00:00:00:00:01", "74:c9:29:20:00:20"]),
    port=st.sampled_from([None, 80, 554, 37020]),
    data=st.dictionaries(st.sampled_from(["headers", "fields", "title", "body", "device_info", "scopes", "types",
                                          "status", "subject", "product", "hex", "text", "path"]),
                         json_values, max_size=5),
    status=st.sampled_from(list(ProbeStatus))), max_size=12))
def test_identify_on_arbitrary_observations(observations: list[Observation], executed: Counter[str]) -> None:
    from camaudit.fingerprints.loader import load_fingerprints
    from camaudit.identify import identify
    from camaudit.policy import load_policies

    executed["identify"] += 1
    idents = identify(observations, _cached(load_fingerprints), _cached(load_policies))
    assert len(idents) <= len(observations)
    for ident in idents:
        assert 0.0 <= ident.confidence <= 1.0
        json.dumps(ident.to_dict(), default=str)


_CACHE: dict = {}


def _cached(factory):  # loading the shipped data once keeps each example fast
    if factory not in _CACHE:
        _CACHE[factory] = factory()
    return _CACHE[factory]


# A config that loads: mutations of it reach the checks behind the TOML syntax and the schema.
CONFIG_SEED = ('targets = ["198.18.0.0/24"]\nexcludes = ["198.18.0.9"]\nports = [80, 554]\nrate = 100\n'
               'site = "hq"\ndb = "sqlite:////tmp/x.sqlite3"\nengine = "native"\npolicies = ["us-ndaa-889"]\n'
               'log_format = "json"\nlog_level = "info"\n[report]\nhtml = "r.html"\n')


def test_config_files(executed: Counter[str]) -> None:
    from camaudit.config import ConfigError, load_config

    outcomes: Counter[str] = Counter()

    @FUZZ
    @example(text=CONFIG_SEED)
    @given(text=st.one_of(mutated_toml(CONFIG_SEED), st.text(max_size=200)))
    def config_file(text: str) -> None:
        executed["config"] += 1
        with tempfile.NamedTemporaryFile("w", suffix=".toml", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(text)
            fh.flush()
            try:
                config = load_config(config_path=fh.name, env={})
            except ConfigError:
                outcomes["refused"] += 1
                return
        outcomes["loaded"] += 1
        lines = text.splitlines()
        for name, _, source in config.items():
            if source == "default":
                continue
            # a loaded value says which line set it, and that line sets that key
            file, line = source.rsplit(":", 1)
            assert file == fh.name and lines[int(line) - 1].split("=", 1)[0].strip() == name.split(".")[-1], source

    config_file()
    # the seed loads, and so do enough mutants to exercise the loaded path, not only refusals
    assert outcomes["loaded"] >= max(2, sum(outcomes.values()) // 100), outcomes


fingerprint_files = _shipped("fingerprints/vendors/*.toml")
policy_files = _shipped("fingerprints/policies/*.toml")
persona_files = _shipped("scanner/lab/personas/*.toml")


def _parse_data_file(path: Path, text: str) -> None:
    """Parse a fingerprint or policy file the way the loader does: only its own error may
    escape, and that error names the file; what parses names that file and known vendors."""
    from camaudit.fingerprints.errors import FingerprintError
    from camaudit.fingerprints.schema import parse_fingerprint_file
    from camaudit.fingerprints.vocabulary import load_vocabulary
    from camaudit.policy import PolicyError, parse_policy

    vocabulary = _cached(load_vocabulary)
    try:
        if path.parent.name == "vendors":
            for fp in parse_fingerprint_file(text, path.name, vocabulary):
                assert fp.file == path.name and fp.vendor in (None, *vocabulary.vendors), fp
        else:
            assert parse_policy(text, path.name, vocabulary.vendors).vendors <= vocabulary.vendors
    except (FingerprintError, PolicyError) as exc:
        assert str(exc).startswith(f"{path.name}:"), exc


@FUZZ
@given(which=st.sampled_from(fingerprint_files + policy_files), data=st.data())
def test_fingerprint_and_policy_files(which: Path, data: st.DataObject, executed: Counter[str]) -> None:
    executed[f"{which.parent.name} file"] += 1
    _parse_data_file(which, data.draw(mutated_toml(which.read_text("utf-8"))))


@FUZZ
@given(which=st.sampled_from(persona_files), data=st.data())
def test_persona_files(which: Path, data: st.DataObject, executed: Counter[str]) -> None:
    from camaudit.lab.persona import PersonaError, load

    executed["persona file"] += 1
    text = data.draw(mutated_toml(which.read_text("utf-8")))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / which.name
        path.write_text(text, "utf-8", errors="surrogatepass")
        try:
            load(path)
        except PersonaError:
            pass

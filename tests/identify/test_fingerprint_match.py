"""FingerprintSet.match: which values of an observation each fingerprint reads."""

from __future__ import annotations

from typing import Any

from camaudit.fingerprints.loader import build_set
from camaudit.fingerprints.matcher import MAX_PLANS, FingerprintSet
from camaudit.fingerprints.vocabulary import load_vocabulary
from camaudit.observation import Observation
from camaudit.oui import OuiTable


def hits(fset: FingerprintSet, source: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(h.fingerprint.id, h.value) for h in fset.match(Observation(source=source, ip="198.18.0.9", data=data))]


def test_header_names_match_case_insensitively_and_the_exact_key_wins(fset: FingerprintSet) -> None:
    want = [("hikvision.http.server.webs", "DNVRS-Webs")]
    assert hits(fset, "http", {"headers": {"SERVER": "DNVRS-Webs"}}) == want
    assert hits(fset, "https", {"Headers": {"sErVeR": "DNVRS-Webs"}}) == want
    # the lower-case spelling of the fingerprint's key is read before any other spelling
    assert hits(fset, "http", {"headers": {"Server": "GoAhead-Webs", "server": "DNVRS-Webs"}}) == want
    # several other spellings: the last one, as a lower-casing dict would keep
    assert hits(fset, "http", {"headers": {"Server": "GoAhead-Webs", "SERVER": "DNVRS-Webs"}}) == want


def test_hits_do_not_depend_on_the_order_of_keys(fset: FingerprintSet) -> None:
    data = {"path": "/", "status": 401, "title": "WEB SERVICE", "body": "<!-- @WebVersion@ -->",
            "headers": {"Server": "App-webs/", "WWW-Authenticate": 'Digest realm="IP Camera(G5821)"'}}
    reordered = {k: (dict(reversed(v.items())) if isinstance(v, dict) else v) for k, v in reversed(data.items())}
    found = hits(fset, "http", data)
    assert len(found) >= 3
    assert hits(fset, "http", reordered) == found


def test_lists_fan_out_and_every_reached_value_is_tested(fset: FingerprintSet) -> None:
    # a list of header dicts (two answers folded into one record) is read like one dict each
    data = {"headers": [{"X-Other": "1"}, {"Server": "DNVRS-Webs"}, {"server": "App-webs/"}]}
    found = hits(fset, "http", data)
    assert ("hikvision.http.server.webs", "DNVRS-Webs") in found
    assert ("hikvision.http.server.app-webs", "App-webs/") in found


def test_when_conditions_read_other_fields_like_the_match_does(fset: FingerprintSet) -> None:
    # dahua.http.rpc2-challenge reads the body only on the /RPC2_Login answer
    body = '{"params":{"encryption":"Default","random":"1"}}'
    want = [("dahua.http.rpc2-challenge", body)]
    assert hits(fset, "http", {"path": "/RPC2_Login", "body": body}) == want
    assert hits(fset, "http", {"PATH": "/RPC2_Login", "body": body}) == want
    assert hits(fset, "http", {"path": ["/", "/RPC2_Login"], "body": body}) == want
    assert hits(fset, "http", {"path": "/", "body": body}) == []


WHEN_ON_A_HEADER = """
vendor = "Dahua"

[[fingerprint]]
id = "test.title-when-server"
field = "http.title"
pattern = "^WEB SERVICE$"
when = { "headers.Server" = "B" }
weight = 0.5
examples = [{ value = "WEB SERVICE" }]
"""


def test_a_when_condition_reads_the_same_key_spelling_as_a_fingerprint() -> None:
    # with "Server" and "server" both present a fingerprint on headers.Server reads "server"
    # (see the header test above); its `when` condition once read "Server" instead
    fset = build_set([("test.toml", WHEN_ON_A_HEADER)], load_vocabulary(), OuiTable([]))
    data = {"title": "WEB SERVICE", "headers": {"Server": "A", "server": "B"}}
    assert hits(fset, "http", data) == [("test.title-when-server", "WEB SERVICE")]
    assert hits(fset, "http", {**data, "headers": {"Server": "B", "server": "A"}}) == []


def test_many_distinct_key_sets_stay_correct(fset: FingerprintSet) -> None:
    # devices choose header names: more key sets than the walk remembers must still match
    for n in range(MAX_PLANS + 50):
        assert hits(fset, "http", {"headers": {f"X-Junk-{n}": "x", "Server": "DNVRS-Webs"}}) == [
            ("hikvision.http.server.webs", "DNVRS-Webs")]


def test_same_path_and_value_in_two_sources_stay_apart(fset: FingerprintSet) -> None:
    # sadp.fields.DeviceType and dhip.fields.DeviceType share a path: a SADP answer's hits
    # (remembered per value) once came back for a DHIP answer with the same value
    assert hits(fset, "sadp", {"fields": {"DeviceType": "IPC-X1"}}) == [("hikvision.sadp.reply", "IPC-X1")]
    assert hits(fset, "dhip", {"fields": {"DeviceType": "IPC-X1"}}) == [("dahua.dhip.device-type", "IPC-X1")]

"""JSON Lines codec of observations: orjson on the fast path, the stdlib's answers kept."""

from __future__ import annotations

import io
import json

import pytest

from camaudit.observation import Observation, ProbeStatus, ReadError, dumps_json, loads_json, read_jsonl


def test_loads_reads_what_the_stdlib_reads() -> None:
    assert loads_json('{"v":1,"data":{"t":"caf\u00e9"}}') == {"v": 1, "data": {"t": "café"}}
    # orjson refuses NaN and Infinity; the stdlib path reads them, as null: not JSON, and
    # written back as null, so a line reads the same after a round trip
    assert loads_json('{"x":NaN,"y":[Infinity,-Infinity]}') == {"x": None, "y": [None, None]}
    assert loads_json('{"x":"\\ud800"}') == {"x": "\ufffd"}  # lone surrogate escape, read and made valid text
    with pytest.raises(json.JSONDecodeError, match="Expecting property name"):
        loads_json("{nope")                                  # the stdlib's message for a bad line


@pytest.mark.parametrize("obj", [
    {"v": 1, "ip": "198.18.0.1", "mac": None, "port": 80, "w": 0.35, "ok": True, "t": "café ✓", "l": [1, 2.5]},
    {"lone": "\ud800"},              # orjson refuses surrogates
    {"big": 1 << 70},                # and integers beyond 64 bits
])
def test_dumps_writes_what_the_stdlib_writes(obj: dict) -> None:
    assert dumps_json(obj) == json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def test_observation_round_trips_and_status_is_the_enum() -> None:
    line = Observation(source="http", ip="198.18.0.1", mac="C0-56-E3-12-34-56", port=80,
                       data={"title": "é"}, status=ProbeStatus.TIMEOUT, error="slow").to_json()
    assert json.loads(line)["status"] == "timeout"
    back = next(read_jsonl(io.StringIO(line + "\n")))
    assert back.status is ProbeStatus.TIMEOUT and back.mac == "c0:56:e3:12:34:56" and back.data == {"title": "é"}


def test_bad_lines_are_skipped_with_the_reason() -> None:
    lines = ['{"v":1,"ip":"198.18.0.1","source":"arp","status":"bogus"}',
             '{"v":1,"ip":"198.18.0.1","source":"arp","status":["ok"]}',
             '{"v":1,"ip":"198.18.0.1","source":"arp","port":1e400}',
             "[1]", "{",
             '{"v":1,"ip":"198.18.0.1","source":"arp","status":"ok"}']
    errors: list[ReadError] = []
    got = list(read_jsonl(io.StringIO("\n".join(lines)), errors))
    assert [o.source for o in got] == ["arp"]
    assert [(e.line, e.reason) for e in errors] == [
        (1, "unknown status 'bogus'"), (2, "unknown status ['ok']"), (3, "bad port inf"),
        (4, "not a JSON object"), (5, "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)")]

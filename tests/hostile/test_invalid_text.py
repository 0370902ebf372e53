"""Text that is not valid UTF-8 from the network or an observation file: a lone UTF-16
surrogate escape (`\\ud800`) or a NUL escape decodes into a Python str no UTF-8 writer can
store. It is replaced with U+FFFD once, where the observation is made (docs/observations.md)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from camaudit.db.store import Store
from camaudit.model import Datagram
from camaudit.observation import Observation, loads_json, read_jsonl
from camaudit.probes import dhip

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
BODY = (b'{"method":"client.notifyDevInfo","params":{"deviceInfo":'
        b'{"DeviceType":"X\\ud800Y","SerialNo":"S\\u0000N","Extra\\udfff":["a\\ud800"]}}}')


def test_dhip_reply_with_lone_surrogate_and_nul_is_stored(tmp_path: Path) -> None:
    obs = dhip.observation(Datagram("198.18.0.231", dhip.PORT, dhip.frame(BODY)))
    fields = obs.data["fields"]
    assert fields["DeviceType"] == "X\ufffdY" and fields["SerialNo"] == "S\ufffdN"
    assert "Extra\ufffd" in fields
    assert obs.text_replaced
    with Store(f"sqlite:///{tmp_path / 'inv.sqlite3'}") as store:
        scan_id = store.begin_scan(["198.18.0.231"], None, [], None, None)
        assert store.add_observations(scan_id, [obs]) == 1   # raised UnicodeEncodeError before


def test_valid_text_walks_keys_nested_lists_and_error() -> None:
    obs = Observation(source="http", ip="198.18.0.1", data={"h\ud800": [{"k": "v\x00"}, ("\udc00",)]},
                      error="bad \ud800")
    assert obs.data == {"h\ufffd": [{"k": "v\ufffd"}, ("\ufffd",)]}
    assert obs.error == "bad \ufffd" and obs.text_replaced
    assert not Observation(source="http", ip="198.18.0.1", data={"ok": "é"}).text_replaced


def test_observation_line_with_lone_surrogate_is_made_valid() -> None:
    line = '{"v":1,"ip":"198.18.0.7","source":"http","port":80,"data":{"headers":{"Server":"App-webs/\\ud800"}},"error":"x\\u0000"}'
    [obs] = read_jsonl(io.StringIO(line))
    assert obs.data["headers"]["Server"] == "App-webs/\ufffd" and obs.error == "x\ufffd"
    obs.to_json().encode("utf-8")


def test_deeply_nested_line_is_a_line_error_not_a_recursion_error() -> None:
    errors: list = []
    deep = '{"v":1,"ip":"198.18.0.8","source":"http","data":{"x":' + "[" * 100_000 + "]" * 100_000 + "}}"
    good = '{"v":1,"ip":"198.18.0.9","source":"http","data":{}}'
    assert [o.ip for o in read_jsonl(io.StringIO(deep + "\n" + good + "\n"), errors)] == ["198.18.0.9"]
    assert errors[0].line == 1 and "nested deeper" in errors[0].reason
    assert loads_json('{"a": NaN}')["a"] != 0  # the stdlib fallback still reads what it always read


def test_match_keeps_going_after_invalid_text_and_deep_nesting(tmp_path: Path) -> None:
    lines = [
        '{"v":1,"ip":"198.18.0.7","source":"http","port":80,"data":{"headers":{"Server":"App-webs/\\ud800"}}}',
        '{"v":1,"ip":"198.18.0.8","source":"http","data":{"x":' + "[" * 50_000 + "]" * 50_000 + "}}",
        '{"v":1,"ip":"198.18.0.9","source":"http","port":80,"data":{"headers":{"Server":"nginx"}}}',
    ]
    src = tmp_path / "obs.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = subprocess.run([CAMAUDIT, "match", str(src)], capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1), run.stderr
    assert "Traceback" not in run.stderr and "line 2:" in run.stderr
    devices = {json.loads(line)["ip"] for line in run.stdout.splitlines()}
    assert devices == {"198.18.0.7", "198.18.0.9"}

"""The asset register: a CSV the agency keeps, loaded all or nothing into the inventory
(SQLite and PostgreSQL), looked up per device, and compared with what the scans see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from camaudit.cli import main
from camaudit.db.store import Store
from camaudit.exitcodes import ExitCode
from camaudit.register_csv import MAX_FIELD_CHARS, RegisterError, parse_register, read_register

HIK_MAC = "c0:56:e3:00:00:17"      # Hangzhou Hikvision Digital Technology (IEEE MA-L)
GONE_MAC = "c0:56:e3:00:00:99"     # a registered Hikvision camera no scan has seen
GOOD = ("MAC Address,IP Address,Asset Tag,Room,Responsible,Cost centre\n"
        f"{HIK_MAC.upper().replace(':', '-')},198.18.0.99,T-17,=HYPERLINK(\"http://x\"),Facilities,CC-4\n"
        ",198.18.0.17,T-18,B-201,IT,\n"
        f"{GONE_MAC},,T-19,Lobby,Facilities,\n"
        ",198.18.0.50,T-20,Roof,IT,\n")


def _flagged_vendor(mac: str | None, vendor: str | None) -> str | None:
    from camaudit.cli.register import flagged_vendor

    return flagged_vendor(mac, vendor)


def test_header_aliases_extra_columns_and_injection_kept_as_data() -> None:
    rows = parse_register(GOOD)
    first = rows[0]
    assert (first.line, first.mac, first.ip, first.asset_tag) == (2, HIK_MAC, "198.18.0.99", "T-17")
    assert first.location == '=HYPERLINK("http://x")' and first.owner == "Facilities"
    assert first.extra == {"Cost centre": "CC-4"} and rows[1].extra == {}
    assert [r.line for r in rows] == [2, 3, 4, 5]


@pytest.mark.parametrize("text, line, message", [
    ("mac,ip\nzz:zz:zz:zz:zz:zz,\n", 2, "not a MAC address"),
    ("mac,ip\n,198.18.0.300\n", 2, "not an IP address"),
    ("mac,ip,tag\n,,T-1\n", 2, "neither a MAC nor an IP"),
    ("mac,ip\naa:bb:cc:dd:ee:01,\nAA-BB-CC-DD-EE-01,\n", 3, "also on line 2"),
    ("mac,ip\n,198.18.0.1\n,198.18.0.1\n", 3, "also on line 2"),
    (f"mac,ip,location\naa:bb:cc:dd:ee:01,,{'x' * (MAX_FIELD_CHARS + 1)}\n", 2, "longer than"),
    ("asset tag,room\nT-1,B-2\n", 1, "no MAC or IP column"),
    ("mac,MAC address\naa:bb:cc:dd:ee:01,\n", 1, "repeats"),
    ('mac,ip\n"aa:bb:cc:dd:ee:01,\n', 2, "not CSV"),
    ("mac,ip\naa:bb:cc:dd:ee:01,198.18.0.1,extra\n", 2, "3 cells for 2 columns"),
])
def test_bad_rows_are_reported_with_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(RegisterError) as caught:
        parse_register(text, "reg.csv")
    assert any(n == line and message in m for n, m in caught.value.problems), caught.value.problems


def test_every_bad_row_is_reported_not_only_the_first() -> None:
    with pytest.raises(RegisterError) as caught:
        parse_register("mac,ip\nbad,\n,also-bad\naa:bb:cc:dd:ee:01,\n,\n")
    assert [n for n, _ in caught.value.problems] == [2, 3]


def test_non_utf8_and_oversized_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("mac,ip,room\naa:bb:cc:dd:ee:01,,Büro\n".encode("latin-1"))
    with pytest.raises(RegisterError) as caught:
        read_register(latin)
    assert caught.value.problems == [(2, "not UTF-8 text; save the register as CSV UTF-8")]
    import camaudit.register_csv as register_csv

    monkeypatch.setattr(register_csv, "MAX_FILE_BYTES", 100)
    big = tmp_path / "big.csv"
    big.write_text("mac,ip\n" + ",198.18.0.1\n" * 50)
    for endless in (big, Path("/dev/zero")):   # the cap holds while reading, whatever stat says
        with pytest.raises(RegisterError) as caught:
            read_register(endless)
        assert caught.value.problems == [(0, "larger than the 100-byte cap")]


def test_load_replaces_atomically_and_lookup_prefers_mac(store: Store, run_scan, flagged_hikvision) -> None:
    rows = parse_register(GOOD)
    assert store.load_register(rows, "reg.csv") == (4, 0)
    # the device's MAC names line 2 although its IP is on line 3
    entry = store.register_entry(HIK_MAC, "198.18.0.17")
    assert entry is not None and entry["asset_tag"] == "T-17" and entry["extra"] == {"Cost centre": "CC-4"}
    assert store.register_entry("00:00:5e:00:53:01", "198.18.0.17")["asset_tag"] == "T-18"
    assert store.register_entry(None, "198.18.0.17")["location"] == "B-201"
    assert store.register_entry("not a mac", "198.18.0.250") is None
    assert store.load_register(parse_register("ip,owner\n198.18.0.1,Ops\n"), "new.csv") == (1, 4)
    assert [e["ip"] for e in store.register_entries()] == ["198.18.0.1"]


def test_gaps(store: Store, run_scan, flagged_hikvision, identification, clock) -> None:
    run_scan(store, [flagged_hikvision("198.18.0.17", HIK_MAC),
                     flagged_hikvision("198.18.0.40", "c0:56:e3:00:00:40")])
    store.load_register(parse_register(GOOD + "c0:56:e3:00:00:40,,T-21,Gate,Security,\n"), "reg.csv")
    clock.advance(days=1)
    run_scan(store, [flagged_hikvision("198.18.0.17", HIK_MAC)])   # .40 is not seen any more
    gaps = store.register_gaps(_flagged_vendor)
    assert gaps["unregistered"] == []
    unseen = {e["mac"]: e for e in gaps["unseen"]}
    assert set(unseen) == {GONE_MAC, "c0:56:e3:00:00:40"}
    assert unseen[GONE_MAC]["state"] == "never seen" and unseen[GONE_MAC]["flagged_vendor"] == "Hikvision"
    assert unseen["c0:56:e3:00:00:40"]["state"] == "not seen since"
    # a flagged device the register lacks
    store.load_register(parse_register("mac,ip\nc0:56:e3:00:00:40,\n"), "reg2.csv")
    assert [a["mac"] for a in store.register_gaps(_flagged_vendor)["unregistered"]] == [HIK_MAC]


def test_a_register_vendor_column_names_a_flagged_vendor(store: Store) -> None:
    store.load_register(parse_register("ip,manufacturer\n198.18.0.77,Dahua Technology\n198.18.0.78,Axis\n"), "r.csv")
    assert [(e["ip"], e["flagged_vendor"]) for e in store.register_gaps(_flagged_vendor)["unseen"]] == \
        [("198.18.0.77", "Dahua")]


def cli(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--db", url, "--config", "/dev/null"])
    return result.exit_code, result.stdout, result.stderr


def test_cli_load_all_or_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(GOOD + "nonsense,\n,,T-9\n", encoding="utf-8")
    code, _, err = cli(url, "register", "load", str(good))
    assert code == ExitCode.CLEAN and "4 register entries loaded (replacing 0)" in err
    code, _, err = cli(url, "register", "load", str(bad))
    assert code == ExitCode.USAGE
    assert f"{bad}:6: 'nonsense' is not a MAC address" in err and f"{bad}:7: neither" in err
    code, out, _ = cli(url, "register", "list", "--json")
    assert code == ExitCode.CLEAN and len(json.loads(out)) == 4      # unchanged
    code, out, _ = cli(url, "register", "gaps", "--json")
    assert code == ExitCode.CLEAN and [e["mac"] for e in json.loads(out)["unseen"]] == [HIK_MAC, GONE_MAC]
    code, _, err = cli(url, "register", "load", str(tmp_path / "missing.csv"))
    assert code == ExitCode.USAGE and "cannot read" in err


def test_cli_list_neutralises_terminal_controls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    path = tmp_path / "reg.csv"
    path.write_text("ip,room,owner\n198.18.0.5,\x1b[2JB-1,\u202eIT\n", encoding="utf-8")
    assert cli(url, "register", "load", str(path))[0] == ExitCode.CLEAN
    code, out, _ = cli(url, "register", "list")
    assert code == ExitCode.CLEAN and "198.18.0.5" in out
    assert "\x1b" not in out and "\u202e" not in out

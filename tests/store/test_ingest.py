"""`camaudit ingest`: observation files stored as scans, on SQLite and PostgreSQL (CliRunner,
real files, real databases)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from camaudit.cli import main
from camaudit.db.models import Scan
from camaudit.db.store import Store
from camaudit.exitcodes import ExitCode
from camaudit.observation import Observation

HIK_MAC = "c0:56:e3:10:00:10"
NMAP_XML = b"""<?xml version="1.0"?><nmaprun><host starttime="1764500000" endtime="1764500030">
<status state="up"/><address addr="198.18.0.10" addrtype="ipv4"/><address addr="C0:56:E3:10:00:10" addrtype="mac"/>
<ports><port protocol="tcp" portid="80"><state state="open"/>
<service name="http" product="Hikvision IP camera httpd" devicetype="webcam"/></port></ports></host></nmaprun>"""


def lines(*, tool: str | None = "camaudit test scan") -> list[str]:
    """A flagged Hikvision camera and an unflagged device, as `scan --observations-out` writes them."""
    obs = [Observation(source="arp", ip="198.18.0.10", mac=HIK_MAC, at="2026-11-30T10:00:02+00:00"),
           Observation(source="http", ip="198.18.0.10", mac=HIK_MAC, port=80, at="2026-11-30T10:00:01+00:00",
                       data={"path": "/", "status": 200, "headers": {"Server": "DNVRS-Webs"}}),
           Observation(source="arp", ip="198.18.0.11", mac="00:11:22:33:44:55", at="2026-11-30T10:00:09+00:00")]
    return [json.dumps({**o.to_dict(), **({"tool": tool} if tool else {})}) for o in obs]


def ingest(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["ingest", *args, "--db", url, "--config", "/dev/null"])
    return result.exit_code, result.stderr


def scans(url: str) -> list[dict]:
    with Store(url) as store, store.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(Scan.__table__).order_by(Scan.id))]


def assets(url: str) -> set[tuple[str, str | None, bool]]:
    with Store(url) as store:
        return {(a["ip"], a["vendor"], a["flagged"]) for a in store.assets()}


def test_a_file_becomes_a_scan_with_its_provenance_once(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "site-b.jsonl"
    f.write_text("\n".join(lines()) + "\n")
    code, err = ingest(db_url, str(f), "--site", "b")
    assert code == ExitCode.FLAGGED, err
    assert assets(db_url) == {("198.18.0.10", "Hikvision", True), ("198.18.0.11", None, False)}
    [scan] = scans(db_url)
    assert (scan["status"], scan["site"], scan["observation_count"], scan["device_count"]) == ("complete", "b", 3, 2)
    assert scan["source_sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert (scan["source_file"], scan["source_tool"]) == (str(f), "camaudit test scan")
    assert [t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t
            for t in (scan["observed_from"], scan["observed_to"])] == [
        datetime(2026, 11, 30, 10, 0, 1, tzinfo=timezone.utc), datetime(2026, 11, 30, 10, 0, 9, tzinfo=timezone.utc)]
    with Store(db_url) as store:
        findings = store.finding_rows()
    assert {r["ip"] for r in findings} == {"198.18.0.10"}

    code, err = ingest(db_url, str(f), "--site", "b")
    assert code == ExitCode.CLEAN and "already ingested as scan #1" in err
    assert len(scans(db_url)) == 1
    with Store(db_url) as store:
        assert len(store.finding_rows()) == len(findings)


def test_bad_lines_are_named_and_the_rest_is_ingested(db_url: str, tmp_path: Path) -> None:
    good = lines(tool=None)
    f = tmp_path / "obs.jsonl"
    f.write_text("\n".join([good[0], "not json", good[1], '{"v":1,"source":"http"}', "x" * (1 << 20) + "y",
                            good[2]]) + "\n")
    code, err = ingest(db_url, str(f))
    assert code == ExitCode.FLAGGED, err
    assert "skipped 3 line(s)" in err and "line 2:" in err and "line 4:" in err and "line 5:" in err
    assert assets(db_url) == {("198.18.0.10", "Hikvision", True), ("198.18.0.11", None, False)}
    [scan] = scans(db_url)
    assert scan["observation_count"] == 3 and scan["source_tool"] is None


def test_a_newer_format_version_is_refused_naming_file_and_line(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "future.jsonl"
    f.write_text("\n" + "\n".join(line.replace('"v": 1', '"v": 2') for line in lines()) + "\n")
    code, err = ingest(db_url, str(f))
    assert code == ExitCode.USAGE
    [message] = err.splitlines()
    assert f"{f} line 2: observation format version 2 is newer" in message and "newer camaudit" in message
    assert scans(db_url) == [] and assets(db_url) == set()


def test_a_version_change_part_way_stores_no_finding(db_url: str, tmp_path: Path) -> None:
    good = lines()
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join([*good, good[1].replace('"v": 1', '"v": 3')]) + "\n")
    code, err = ingest(db_url, str(f))
    assert code == ExitCode.USAGE and f"{f} line 4: observation format version 3" in err
    assert [s["status"] for s in scans(db_url)] == ["failed"] and assets(db_url) == set()
    f.write_text("\n".join(good) + "\n")  # the same observations, readable now: ingested
    assert ingest(db_url, str(f))[0] == ExitCode.FLAGGED


def test_nmap_import_output_is_ingested(db_url: str, tmp_path: Path) -> None:
    xml, obs = tmp_path / "scan.xml", tmp_path / "nmap.jsonl"
    xml.write_bytes(NMAP_XML)
    result = CliRunner().invoke(main, ["import", "nmap", str(xml), "-o", str(obs)])
    assert result.exit_code == 0, result.output
    code, err = ingest(db_url, str(obs), "--site", "c")
    assert code == ExitCode.FLAGGED, err
    assert assets(db_url) == {("198.18.0.10", "Hikvision", True)}
    [scan] = scans(db_url)
    assert scan["source_tool"].endswith("import nmap")
    assert scan["observed_from"].replace(tzinfo=None) == datetime(2025, 11, 30, 10, 53, 20)


def test_an_unusable_observation_time_costs_only_its_line(db_url: str, tmp_path: Path) -> None:
    good = lines()
    http = json.loads(good[1])
    hostile = [json.dumps({**http, "at": at}) for at in ("0001-01-01T00:00:00+01:00", "yesterday", 5, "9" * 100)]
    f = tmp_path / "times.jsonl"
    f.write_text("\n".join([*good, *hostile]) + "\n")
    code, err = ingest(db_url, str(f))
    assert code == ExitCode.FLAGGED, err
    assert "skipped 4 line(s)" in err and all(f"line {n}:" in err for n in (4, 5, 6, 7))
    [scan] = scans(db_url)
    assert scan["observation_count"] == 3

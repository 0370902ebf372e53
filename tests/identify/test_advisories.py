"""The known exploited vulnerabilities table, firmware version comparison and the removal
priority: shipped data checked against its schema, vendor version strings compared by rule,
and the KEV feed import bounded and all-or-nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camaudit.advisories import (
    AdvisoryDataError, import_kev_feed, load_advisories, save_user_layer, shipped_advisories,
)
from camaudit.fingerprints.vocabulary import load_vocabulary
from camaudit.firmware_version import in_range, version_key
from camaudit.priority import NOT_LISTED, UNKNOWN, VULNERABLE, DeviceFacts, assess, rank

VENDORS = {"hikvision": "Hikvision", "dahua": "Dahua", "huawei": "Huawei", "zte": "ZTE"}


def test_shipped_table_follows_its_schema() -> None:
    table = shipped_advisories()
    vocab = load_vocabulary()
    assert {a.cve for a in table} >= {"CVE-2017-7921", "CVE-2021-36260", "CVE-2021-33044",
                                      "CVE-2021-33045", "CVE-2017-17215"}
    for a in table:
        assert a.vendor in vocab.vendors
        assert a.sources[0].startswith("https://www.cisa.gov/known-exploited-vulnerabilities-catalog")
        assert a.affected, a.cve
        for entry in a.affected:
            for lo, hi in entry.versions or ():
                # every bound is readable, of one scheme, and the range is not empty
                assert in_range(lo, lo, hi) is True and in_range(hi, lo, hi) is True, (a.cve, lo, hi)


@pytest.mark.parametrize("text, error", [
    ('[[advisory]]\ncve = "CVE-2017-7921"\nvendor = "Hikvision"\nname = "x"\nkev_date_added = "2026-13-01"\n'
     'sources = ["https://a"]', "kev_date_added"),
    ('[[advisory]]\ncve = "CVE-17"\nvendor = "Hikvision"\nname = "x"\nkev_date_added = "unknown"\n'
     'sources = ["https://a"]', "not a CVE id"),
    ('[[advisory]]\ncve = "CVE-2017-7921"\nvendor = "Hikvision"\nname = "x"\nkev_date_added = "unknown"\n'
     'sources = ["http://a"]', "https"),
    ('[[advisory]]\ncve = "CVE-2017-7921"\nvendor = "Hikvision"\nname = "x"\nkev_date_added = "unknown"\n'
     'sources = ["https://a"]\n[[advisory.affected]]\nproduct = "p"\nversions = "unknown"', "needs device_types"),
    ('[[advisory]]\ncve = "CVE-2017-7921"\nvendor = "Hikvision"\nname = "x"\nkev_date_added = "unknown"\n'
     'sources = ["https://a"]\n[[advisory.affected]]\nproduct = "p"\nmodel = "("\nversions = "unknown"', "not a regex"),
    ('[[advisory]]\ncve = "CVE-2017-7921"\nvendor = "Hikvision"\nname = "x"\nkev_date_added = "unknown"\n'
     'sources = ["https://a"]\n[[advisory.affected]]\nproduct = "p"\nmodel = "X"\nversions = []', "versions"),
])
def test_schema_refuses_broken_entries(text: str, error: str) -> None:
    with pytest.raises(AdvisoryDataError, match=error):
        shipped_advisories(text)


@pytest.mark.parametrize("text, key", [
    ("V5.5.0 build 170725", ("build", (5, 5, 0, 170725))),
    ("V5.7.3build 220112", ("build", (5, 7, 3, 220112))),
    ("Firmware v5.4.0 Build 160530", ("build", (5, 4, 0, 160530))),
    ("V300R019C10", ("vrp", (300, 19, 10, 0, 0))),
    ("V200R011C10SPC600", ("vrp", (200, 11, 10, 600, 0))),
    ("V200R009C00SPC500SPH3", ("vrp", (200, 9, 0, 500, 3))),
    ("V2.800.0000000.11.R", ("dotted", (2, 800, 0, 11))),
    ("2.8.0", ("dotted", (2, 8))),
    ("V5.4.0", ("dotted", (5, 4))),
])
def test_vendor_version_strings_read_by_scheme(text: str, key: tuple[str, tuple[int, ...]]) -> None:
    parsed = version_key(text)
    assert parsed is not None and (parsed.scheme, parsed.parts) == key


@pytest.mark.parametrize("text", [None, "", "unknown", "V5.4.0 build 160530 / V5.5.0 build 170725",
                                  "IPC_E0_CN_STD_5.4.0_190326", "1" * 300, "1.2.3.4.5.6.7.8.9.10"])
def test_unreadable_versions_are_none(text: str | None) -> None:
    assert version_key(text) is None


@pytest.mark.parametrize("version, low, high, expected", [
    ("V5.2.5 build 141201", "V5.2.0 build 140721", "V5.4.0 build 160530", True),
    ("V5.4.0 build 160530", "V5.2.0 build 140721", "V5.4.0 build 160530", True),   # inclusive
    ("V5.4.0 build 160531", "V5.2.0 build 140721", "V5.4.0 build 160530", False),  # a later build
    ("V5.4.1 build 160101", "V5.2.0 build 140721", "V5.4.0 build 160530", False),  # version beats build date
    ("V5.2.0 build 140720", "V5.2.0 build 140721", "V5.4.0 build 160530", False),
    ("V5.4.0", "V5.2.0 build 140721", "V5.4.0 build 160530", None),                # no build: cannot tell
    ("V300R019C10SPC200", "V300R019C10", "V300R019C10SPC300", True),
    ("V300R019C20", "V300R019C10", "V300R019C10SPC300", False),
    ("V2.800.0000000.11.R", "2.800.0.0", "2.800.0.20", True),
    ("V2.800.0000000.25.R", "2.800.0.0", "2.800.0.20", False),
    ("V2.800.0000000.11.R", "V300R019C10", "V300R019C20", None),                   # schemes differ
])
def test_range_check(version: str, low: str, high: str, expected: bool | None) -> None:
    assert in_range(version, low, high) is expected


LEGACY = DeviceFacts(vendor="Hikvision", model="DS-2CD2132F-IS", firmware="V5.2.5build 141201",
                     device_type="camera", tier="confirmed", open_ports=frozenset({80, 554, 8000}))


def test_camera_in_a_published_range_is_vulnerable_and_ranks_first() -> None:
    table = load_advisories()
    patched = DeviceFacts(vendor="Hikvision", model="DS-2CD2132F-IS", firmware="V5.4.5 build 170123",
                          device_type="camera", tier="confirmed", open_ports=frozenset({80}))
    nvr = DeviceFacts(vendor="Hikvision", model="DS-7608NI", device_type="nvr", tier="confirmed",
                      open_ports=frozenset({80, 23}))
    router = DeviceFacts(vendor="Huawei", model="AR1220", firmware="V200R009C00SPC500",
                         device_type="router", tier="probable", open_ports=frozenset({22}))
    ranked = rank([(name, assess(f, table)) for name, f in
                   (("router", router), ("patched", patched), ("nvr", nvr), ("legacy", LEGACY))])
    assert [name for name, _ in ranked] == ["legacy", "nvr", "patched", "router"]
    legacy = ranked[0][1]
    assert legacy.firmware_status == VULNERABLE and legacy.cves == ("CVE-2017-7921",)
    assert legacy.reason.startswith("CVE-2017-7921, known exploited;")
    assert legacy.reason.endswith("web UI and vendor SDK open")
    assert ranked[1][1].firmware_status == UNKNOWN and "CVE-2021-36260" in ranked[1][1].possible_cves
    assert ranked[3][1].firmware_status == NOT_LISTED


def test_missing_firmware_is_unknown_never_safe() -> None:
    for facts in (DeviceFacts(vendor="ZTE", device_type="olt"),
                  DeviceFacts(vendor="Hikvision", model="DS-2CD2132F-IS", device_type="camera")):
        p = assess(facts, load_advisories())
        assert p.firmware_status == UNKNOWN and "unknown" in p.reason
    known = assess(DeviceFacts(vendor="ZTE", firmware="V2.1.0", device_type="olt"), load_advisories())
    assert known.firmware_status == NOT_LISTED
    assert assess(DeviceFacts(vendor="ZTE", device_type="olt"), []).score > known.score


def test_recorder_and_network_gear_before_a_single_camera() -> None:
    camera = assess(DeviceFacts(vendor="ZTE", firmware="1.0", device_type="camera"), [])
    for kind in ("nvr", "dvr", "router", "switch", "olt"):
        assert assess(DeviceFacts(vendor="ZTE", firmware="1.0", device_type=kind), []).score > camera.score


def _feed(tmp_path: Path, body: object) -> Path:
    path = tmp_path / "known_exploited_vulnerabilities.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def test_feed_import_keeps_flagged_vendors_and_the_shipped_ranges(tmp_path: Path) -> None:
    feed = _feed(tmp_path, {"catalogVersion": "2026.11.30", "vulnerabilities": [
        {"cveID": "CVE-2017-7921", "vendorProject": "Hikvision", "product": "Multiple Products",
         "vulnerabilityName": "Hikvision Multiple Products Improper Authentication Vulnerability",
         "dateAdded": "2026-03-05"},
        {"cveID": "CVE-2099-0001", "vendorProject": "ZTE", "product": "Router",
         "vulnerabilityName": "ZTE Router Example", "dateAdded": "2099-01-02"},
        {"cveID": "CVE-2021-44228", "vendorProject": "Apache", "product": "Log4j2",
         "vulnerabilityName": "Apache Log4j2 RCE", "dateAdded": "2021-12-10"}]})
    kept, total = import_kev_feed(feed, VENDORS)
    assert total == 3 and [a.cve for a in kept] == ["CVE-2017-7921", "CVE-2099-0001"]
    assert kept[0].affected == next(a for a in shipped_advisories() if a.cve == "CVE-2017-7921").affected
    assert kept[1].vendor == "ZTE" and kept[1].affected == () and kept[1].kev_date_added == "2099-01-02"
    save_user_layer(kept, tmp_path / "data")
    merged = {a.cve: a for a in load_advisories(tmp_path / "data")}
    assert "CVE-2099-0001" in merged and "CVE-2021-36260" in merged
    # an entry without a product pattern names no device
    zte = assess(DeviceFacts(vendor="ZTE", firmware="V2.1.0", device_type="router"), merged.values())
    assert zte.firmware_status == NOT_LISTED


def test_cli_load_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from camaudit.cli import main
    from camaudit.exitcodes import ExitCode

    monkeypatch.setenv("CAMAUDIT_DATA_DIR", str(tmp_path / "data"))
    feed = _feed(tmp_path, {"vulnerabilities": [
        {"cveID": "CVE-2099-0002", "vendorProject": "Hangzhou Hikvision Digital Technology Co., Ltd.",
         "product": "NVR", "vulnerabilityName": "Hikvision NVR Example", "dateAdded": "2099-02-03"},
        {"cveID": "CVE-2021-44228", "vendorProject": "Apache", "product": "Log4j2",
         "vulnerabilityName": "Apache Log4j2 RCE", "dateAdded": "2021-12-10"}]})
    result = CliRunner().invoke(main, ["advisories", "load", str(feed)])
    assert result.exit_code == ExitCode.CLEAN and "1 of 2 entries are of flagged vendors" in result.stderr
    listed = CliRunner().invoke(main, ["advisories", "list", "--json"])
    cves = [json.loads(line)["cve"] for line in listed.stdout.splitlines()]
    assert "CVE-2099-0002" in cves and "CVE-2017-7921" in cves
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x00\xff")
    refused = CliRunner().invoke(main, ["advisories", "load", str(bad)])
    assert refused.exit_code == ExitCode.USAGE and "not JSON in UTF-8" in refused.stderr
    # the refresh saved before stays in effect
    assert "CVE-2099-0002" in CliRunner().invoke(main, ["advisories", "list"]).stdout


@pytest.mark.parametrize("content, error", [
    (b"\xff\xfe not utf-8", "not JSON in UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    (b'{"vulnerabilities": 3}', "no \"vulnerabilities\" list"),
    (b'{"vulnerabilities": [{"cveID": "CVE-2017-7921"}]}', "no vendorProject"),
    (b'{"vulnerabilities": [{"cveID": "CVE-2017-7921", "vendorProject": "Hikvision", '
     b'"vulnerabilityName": "x", "dateAdded": "someday"}]}', "kev_date_added"),
])
def test_feed_import_refuses_bad_files(tmp_path: Path, content: bytes, error: str) -> None:
    path = tmp_path / "feed.json"
    path.write_bytes(content)
    with pytest.raises(AdvisoryDataError, match=error):
        import_kev_feed(path, VENDORS)


def test_feed_import_is_bounded_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import camaudit.advisories as advisories

    monkeypatch.setattr(advisories, "MAX_FEED_BYTES", 1000)
    path = _feed(tmp_path, {"vulnerabilities": [], "pad": "x" * 2000})
    with pytest.raises(AdvisoryDataError, match="cap"):
        import_kev_feed(path, VENDORS)

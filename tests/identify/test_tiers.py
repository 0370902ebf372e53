"""Confidence tiers on crafted observations: one test per rule of docs/fingerprints.md
("Confidence tiers"), the contrary-signal lowering included, and the `tier` key of the
fingerprint schema."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from click.testing import CliRunner

from camaudit.cli import main
from camaudit.exitcodes import ExitCode
from camaudit.fingerprints.errors import FingerprintError
from camaudit.fingerprints.loader import load_fingerprints
from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.fingerprints.schema import parse_fingerprint_file
from camaudit.identify import Identification, identify
from camaudit.observation import Observation, write_jsonl
from camaudit.policy import load_policies

HIK_MAC = "c0:56:e3:12:34:56"         # Hangzhou Hikvision Digital Technology
DAHUA_MAC = "08:ed:ed:12:34:56"       # Zhejiang Dahua Technology
EZVIZ_MAC = "0c:a6:4c:12:34:56"       # Hangzhou Ezviz Software: a brand Hikvision owns
ISAPI = '<?xml version="1.0" encoding="UTF-8"?><userCheck><statusValue>401</statusValue></userCheck>'
LOGIN_SCRIPT = '<script>\nwindow.location.href = "/doc/page/login.asp?_" + (new Date()).getTime();\n</script>'
HIK_FAVICON = 999357577


def obs(source: str, data: dict[str, Any] | None = None, *, mac: str | None = None,
        port: int | None = None) -> Observation:
    return Observation.from_dict({"v": 1, "ip": "198.18.0.10", "mac": mac, "source": source,
                                  "port": port, "status": "ok", "data": data or {}})


def one(fset: FingerprintSet, *observations: Observation) -> Identification:
    idents = identify(observations, fset, load_policies())
    assert len(idents) == 1, idents
    return idents[0]


def lowering(ident: Identification) -> list[dict[str, Any]]:
    return [c for c in ident.conflicts if c.get("lowers_tier")]


def test_sadp_reply_is_confirmed(fset: FingerprintSet) -> None:
    ident = one(fset, obs("sadp", {"fields": {"DeviceType": "DS-2CD2142FWD-I"}}, port=37020))
    assert (ident.vendor, ident.flagged, ident.tier) == ("Hikvision", True, "confirmed")
    assert ident.to_dict()["tier"] == "confirmed"


def test_vendor_api_answer_is_confirmed(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/ISAPI/Security/userCheck", "status": 401, "body": ISAPI}, port=80))
    assert (ident.vendor, ident.tier) == ("Hikvision", "confirmed")


def test_onvif_manufacturer_naming_the_vendor_is_confirmed(fset: FingerprintSet) -> None:
    ident = one(fset, obs("onvif", {"device_info": {"manufacturer": "HIKVISION"}}, port=80))
    assert (ident.vendor, ident.tier) == ("Hikvision", "confirmed")


def test_vendor_server_banner_is_probable(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/", "headers": {"Server": "App-webs/"}}, port=80))
    assert (ident.vendor, ident.flagged, ident.tier) == ("Hikvision", True, "probable")


def test_registration_of_a_brand_the_vendor_owns_is_probable_with_its_lineage(fset: FingerprintSet) -> None:
    ident = one(fset, obs("arp", mac=EZVIZ_MAC))
    assert (ident.vendor, ident.brand, ident.flagged, ident.tier) == ("Hikvision", "EZVIZ", True, "probable")
    assert ident.evidence[0]["vendor"] == "Hikvision" and ident.evidence[0]["brand"] == "EZVIZ"


def test_favicon_alone_is_possible_but_still_flagged(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/favicon.ico", "favicon_mmh3": HIK_FAVICON}, port=80))
    assert (ident.vendor, ident.flagged, ident.tier) == ("Hikvision", True, "possible")


def test_login_page_marker_alone_is_possible(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/", "body": LOGIN_SCRIPT}, port=80))
    assert (ident.vendor, ident.tier) == ("Hikvision", "possible")


def test_weak_signals_agreeing_strongly_are_probable(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/", "body": LOGIN_SCRIPT}, port=80),
                obs("http", {"path": "/favicon.ico", "favicon_mmh3": HIK_FAVICON}, port=80))
    assert ident.confidence >= 0.9 and ident.tier == "probable"


def test_general_purpose_web_server_lowers_the_tier_and_is_shown(fset: FingerprintSet) -> None:
    ident = one(fset, obs("sadp", {"fields": {"DeviceType": "DS-2CD2142FWD-I"}}, port=37020),
                obs("http", {"path": "/", "headers": {"server": "nginx/1.24.0"}}, port=8080))
    assert (ident.vendor, ident.tier) == ("Hikvision", "probable")
    assert lowering(ident) == [{"field": "server", "value": "nginx/1.24.0", "where": "http:8080",
                                "lowers_tier": True}]


def test_a_vendor_named_server_is_not_a_general_purpose_one(fset: FingerprintSet) -> None:
    ident = one(fset, obs("sadp", {"fields": {"DeviceType": "DS-2CD2142FWD-I"}}, port=37020),
                obs("http", {"path": "/", "headers": {"Server": "nginxish-webs"}}, port=80))
    assert ident.tier == "confirmed" and lowering(ident) == []


def test_another_vendors_registration_lowers_the_tier(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/ISAPI/Security/userCheck", "body": ISAPI}, mac=DAHUA_MAC, port=80))
    assert (ident.vendor, ident.tier) == ("Hikvision", "probable")
    assert [(c["value"], c["fingerprints"]) for c in lowering(ident)] == [("Dahua", ["oui"])]


def test_another_vendors_api_answer_lowers_the_tier(fset: FingerprintSet) -> None:
    ident = one(fset, obs("sadp", {"fields": {"DeviceType": "DS-2CD2142FWD-I", "DeviceSN": "X1"}}, port=37020),
                obs("dhip", {"fields": {"DeviceType": "IPC-HFW2431S"}}, port=37810))
    assert ident.vendor in ("Hikvision", "Dahua") and ident.tier == "probable"
    assert len(lowering(ident)) == 1


def test_a_weak_other_vendor_signal_does_not_lower(fset: FingerprintSet) -> None:
    ident = one(fset, obs("sadp", {"fields": {"DeviceType": "DS-2CD2142FWD-I"}}, port=37020),
                obs("onvif", {"device_info": {"model": "IPC-HFW2431S-S-S2"}}, port=80))
    assert any(c["field"] == "vendor" for c in ident.conflicts)      # Dahua model number: a conflict
    assert ident.tier == "confirmed" and lowering(ident) == []        # but not a strong one


def test_possible_lowered_stays_possible(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/favicon.ico", "favicon_mmh3": HIK_FAVICON,
                                   "headers": {"Server": "Apache/2.4.57"}}, port=80))
    assert ident.tier == "possible" and len(lowering(ident)) == 1


def test_unidentified_device_has_no_tier(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/", "headers": {"Server": "nginx"}}, port=80))
    assert (ident.vendor, ident.tier, ident.conflicts) == (None, None, [])


OEM_FILE = '''
[[fingerprint]]
id = "test.oem-title"
field = "http.title"
pattern = "^EZVIZ Studio$"
vendor = ""
brand = "EZVIZ"
weight = 0.5
examples = [{ value = "EZVIZ Studio" }]
'''


def test_a_label_the_vendor_owns_is_probable_at_least(fset: FingerprintSet) -> None:
    fps = parse_fingerprint_file(OEM_FILE, "test.toml", fset.vocabulary)
    assert fps[0].tier == "possible"          # by its weight
    own = FingerprintSet(fps, fset.vocabulary, fset.oui)
    ident = one(own, obs("http", {"path": "/", "title": "EZVIZ Studio"}, port=80))
    assert (ident.vendor, ident.brand, ident.flagged, ident.tier) == ("Hikvision", "EZVIZ", True, "probable")
    assert ident.evidence[0]["vendor"] == "Hikvision" and ident.evidence[0]["tier"] == "probable"


@pytest.mark.parametrize("extra, tier", [("", "probable"), ('tier = "confirmed"', "confirmed"),
                                         ("generic = true", "possible")])
def test_the_tier_key_and_its_default_from_weight(fset: FingerprintSet, extra: str, tier: str) -> None:
    text = ('[[fingerprint]]\nid = "test.x"\nfield = "http.title"\npattern = "^X$"\nvendor = "Hikvision"\n'
            f'weight = 0.8\n{extra}\nexamples = [{{ value = "X" }}]\n')
    assert parse_fingerprint_file(text, "x.toml", fset.vocabulary)[0].tier == tier


def test_an_unknown_tier_names_file_and_line(fset: FingerprintSet) -> None:
    text = ('# c\n[[fingerprint]]\nid = "test.x"\nfield = "http.title"\npattern = "^X$"\nvendor = "Hikvision"\n'
            'weight = 0.8\ntier = "certain"\nexamples = [{ value = "X" }]\n')
    with pytest.raises(FingerprintError, match=r"x\.toml:2: .*tier must be one of confirmed, probable, possible"):
        parse_fingerprint_file(text, "x.toml", fset.vocabulary)


def test_firmware_level_fingerprints_are_annotated_confirmed(tmp_path: Path) -> None:
    fps = {fp.id: fp.tier for fp in load_fingerprints(tmp_path).fingerprints}
    assert all(tier == "confirmed" for fid, tier in fps.items() if fid.startswith(("hikvision.sadp.", "dahua.dhip.")))
    assert fps["hikvision.http.isapi"] == fps["dahua.http.rpc2-login"] == fps["dahua.http.magicbox-vendor"] == "confirmed"
    assert fps["hikvision.tls.default-cert"] == fps["generic.onvif.manufacturer"] == "confirmed"


def test_match_exits_1_only_for_a_confirmed_or_probable_flagged_device() -> None:
    favicon = obs("http", {"path": "/favicon.ico", "favicon_mmh3": HIK_FAVICON}, port=80)
    banner = obs("http", {"path": "/", "headers": {"Server": "App-webs/"}}, port=80)
    for observations, code, tier in (([favicon], ExitCode.CLEAN, "possible"),
                                     ([favicon, banner], ExitCode.FLAGGED, "probable")):
        lines = io.StringIO()
        write_jsonl(observations, lines)
        result = CliRunner().invoke(main, ["match", "-"], input=lines.getvalue())
        assert result.exit_code == code, result.output
        [ident] = [json.loads(line) for line in result.stdout.splitlines()]
        assert (ident["flagged"], ident["tier"]) == (True, tier)

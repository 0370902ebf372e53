"""identify(): lineage vs label, corroboration of generic strings, conflicts, grouping."""

from __future__ import annotations

from typing import Any

from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.identify import Identification, identify
from camaudit.observation import Observation
from camaudit.policy import load_policies

HIK_MAC = "c0:56:e3:12:34:56"
ALL = load_policies()


def obs(source: str, data: dict[str, Any] | None = None, *, ip: str | None = "198.18.0.10",
        mac: str | None = None, port: int | None = None, status: str = "ok") -> Observation:
    """An observation as a probe would emit it (dict round trip, so the JSON contract is used)."""
    return Observation.from_dict({"v": 1, "ip": ip, "mac": mac, "source": source, "port": port,
                                  "status": status, "data": data or {}})


def one(fset: FingerprintSet, *observations, policies=ALL) -> Identification:
    idents = identify(observations, fset, policies)
    assert len(idents) == 1, idents
    return idents[0]


def test_lts_relabel_is_hikvision_lineage_with_lts_brand(fset: FingerprintSet) -> None:
    ident = one(fset,
                obs("http", {"path": "/ISAPI/Security/userCheck", "status": 401,
                             "headers": {"Server": "App-webs/"},
                             "body": "<userCheck><statusValue>401</statusValue></userCheck>"}, port=80),
                obs("onvif", {"device_info": {"manufacturer": "LTS", "model": "CMIP3042W-28M",
                                              "firmware": "V5.5.0 build 170725", "serial": "LTS123"}}, port=80),
                obs("sadp", {"fields": {"DeviceType": "138753", "DeviceDescription": "CMIP3042W-28M",
                                        "OEMInfo": "LTS", "SoftwareVersion": "V5.5.0build 170725"}}, port=37020))
    assert (ident.vendor, ident.brand) == ("Hikvision", "LTS")
    assert (ident.model, ident.firmware, ident.serial) == ("CMIP3042W-28M", "V5.5.0 build 170725", "LTS123")
    assert ident.flagged and "us-ndaa-889" in ident.policies and "ca-hikvision-2025" in ident.policies
    assert ident.confidence > 0.99
    ev = {e["fingerprint"]: e for e in ident.evidence}
    assert ev["hikvision.http.isapi"]["port"] == 80 and ev["hikvision.http.isapi"]["source"] == "http"
    assert ev["hikvision.sadp.oem"]["value"] == "LTS" and ev["hikvision.sadp.oem"]["brand"] == "LTS"
    # the SADP firmware spelling differs: recorded as a conflict, the ONVIF one chosen
    assert {"field": "firmware", "value": "V5.5.0build 170725", "fingerprint": "hikvision.sadp.firmware",
            "chosen": "V5.5.0 build 170725", "chosen_by": "generic.onvif.firmware"} in ident.conflicts


def test_owned_brand_implies_lineage(fset: FingerprintSet) -> None:
    ident = one(fset, obs("onvif", {"device_info": {"manufacturer": "EZVIZ"}}, port=80))
    assert (ident.vendor, ident.brand, ident.flagged) == ("Hikvision", "EZVIZ", True)


def test_bare_webs_alone_is_not_hikvision(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/", "status": 200, "headers": {"server": "Webs"}}, port=80))
    assert ident.vendor is None and not ident.flagged and ident.confidence == 0
    assert ident.evidence[0]["fingerprint"] == "hikvision.http.server.bare-webs" and ident.evidence[0]["generic"]


def test_bare_webs_counts_beside_a_hikvision_oui(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/", "headers": {"Server": "Webs"}}, mac=HIK_MAC, port=80))
    oui_only = one(fset, obs("arp", mac=HIK_MAC))
    assert ident.vendor == "Hikvision" and ident.confidence > oui_only.confidence == 0.35


def test_goahead_decoy_is_not_guessed(fset: FingerprintSet) -> None:
    ident = one(fset, obs("http", {"path": "/", "headers": {"Server": "GoAhead-Webs"}, "title": "WEB SERVICE"}, port=80))
    assert ident.vendor is None and not ident.flagged
    assert ident.device_type == "embedded web server (GoAhead)"


def test_oui_alone_flags_hytera_with_low_confidence(fset: FingerprintSet) -> None:
    ident = one(fset, obs("arp", ip="198.18.0.40", mac="9c:06:6e:00:00:40"))
    assert (ident.vendor, ident.flagged, ident.confidence) == ("Hytera", True, 0.35)
    assert ident.policies == ["us-fcc-covered-list", "us-ndaa-889"]
    assert ident.evidence == [{"source": "mac", "port": None, "fingerprint": "oui", "field": "mac.oui",
                               "value": "9C066E/24 Hytera Communications Corporation Limited",
                               "weight": 0.35, "vendor": "Hytera", "brand": "Hytera", "tier": "probable"}]
    assert ident.tier == "probable"   # the vendor's registration, nothing firmware-level


def test_randomized_mac_never_yields_a_vendor(fset: FingerprintSet) -> None:
    ident = one(fset, obs("arp", mac="9e:06:6e:00:00:40"))
    assert ident.vendor is None and ident.organization is None and not ident.flagged


def test_dahua_oem_amcrest_via_dhip(fset: FingerprintSet) -> None:
    ident = one(fset, obs("dhip", {"fields": {"DeviceType": "IP2M-841B", "SerialNo": "AMC0123456789",
                                              "Vendor": "Amcrest", "Version": "2.800.0000000.25.R"}},
                          mac="9c:8e:cd:00:00:01", port=37810))
    assert (ident.vendor, ident.brand, ident.model, ident.serial) == ("Dahua", "Amcrest", "IP2M-841B", "AMC0123456789")
    assert ident.flagged


def test_decoy_axis_with_a_resold_hikvision_nic_records_the_conflict(fset: FingerprintSet) -> None:
    ident = one(fset,
                obs("http", {"path": "/", "status": 401,
                             "headers": {"WWW-Authenticate": 'Digest realm="AXIS_ACCC8E012345"'}}, mac=HIK_MAC, port=80),
                obs("onvif", {"device_info": {"manufacturer": "AXIS", "model": "P1375"}}, mac=HIK_MAC, port=80))
    assert (ident.vendor, ident.brand, ident.flagged) == ("Axis", "Axis", False)
    assert ident.conflicts[0] == {"field": "vendor", "value": "Hikvision", "confidence": 0.35, "fingerprints": ["oui"],
                                  "lowers_tier": True}
    assert ident.tier == "probable"   # ONVIF manufacturer confirmed, lowered by the other registration
    assert ident.organization == "Hangzhou Hikvision Digital Technology Co.,Ltd."


def test_unknown_maker_is_named_not_guessed(fset: FingerprintSet) -> None:
    ident = one(fset, obs("onvif", {"device_info": {"manufacturer": "Acme Cams", "model": "X1"},
                                    "types": ["dn:NetworkVideoTransmitter"]}, port=80))
    assert (ident.vendor, ident.brand, ident.model, ident.device_type) == (None, "Acme Cams", "X1", "camera")
    assert not ident.flagged


def test_ip_only_observations_join_the_mac_of_their_ip(fset: FingerprintSet) -> None:
    idents = identify([obs("arp", ip="198.18.0.10", mac=HIK_MAC),
                       obs("http", {"headers": {"Server": "App-webs/"}}, ip="198.18.0.10", port=80),
                       obs("http", {"headers": {"Server": "App-webs/"}}, ip="198.18.1.7", port=80, status="ok"),
                       obs("rtsp", ip="198.18.1.7", port=554, status="timeout")], fset, ALL)
    by_ip = {i.ip: i for i in idents}
    assert set(by_ip) == {"198.18.0.10", "198.18.1.7"}
    assert by_ip["198.18.0.10"].mac == HIK_MAC and by_ip["198.18.0.10"].confidence > 0.35
    assert by_ip["198.18.1.7"].mac is None and by_ip["198.18.1.7"].vendor == "Hikvision"
    assert by_ip["198.18.1.7"].statuses == {"http:80": "ok", "rtsp:554": "timeout"}


def test_percent_encoded_scopes_and_nbsp_are_normalised(fset: FingerprintSet) -> None:
    ident = one(fset,
                obs("onvif", {"scopes": ["onvif://www.onvif.org/name/HIKVISION%20DS-2CD2043G2-I",
                                         "onvif://www.onvif.org/hardware/DS-2CD2043G2-I"]}, port=3702),
                obs("tls", {"issuer": "C=CN,O=Zhejiang\u00a0Dahua\u00a0Technology Co.\\,Ltd.,CN=Dahua\u00a0Device\u00a0NVR\u00a0CA"}, port=443))
    assert ident.vendor == "Dahua"   # default certificate (0.9) outweighs a scope name (0.5)
    assert {c["value"] for c in ident.conflicts if c["field"] == "vendor"} == {"Hikvision"}


def test_policy_selection_and_minimum_confidence(fset: FingerprintSet) -> None:
    hytera = obs("arp", mac="9c:06:6e:00:00:40")
    assert one(fset, hytera, policies=load_policies(["ca-hikvision-2025"])).flagged is False
    hik = obs("onvif", {"device_info": {"manufacturer": "Hikvision"}}, port=80)
    assert one(fset, hik, policies=load_policies(["ca-hikvision-2025"])).policies == ["ca-hikvision-2025"]


def test_identify_is_deterministic_and_json_round_trips(fset: FingerprintSet) -> None:
    import json
    items = [obs("http", {"headers": {"Server": "DNVRS-Webs"}}, ip=f"198.18.0.{n}", port=80) for n in range(1, 6)]
    a = [i.to_json() for i in identify(items, fset, ALL)]
    b = [i.to_json() for i in identify(list(reversed(items)), fset, ALL)]
    assert sorted(a) == sorted(b)
    assert json.loads(a[0])["vendor"] == "Hikvision"

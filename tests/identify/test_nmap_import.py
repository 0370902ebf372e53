"""An nmap XML file is identified through everything nmap says, not its product name alone:
service CPEs, OS type, extra info, device type, and the host's best OS match (class vendor,
class CPE, match name). tests/identify/nmap/opinions.xml follows nmap 7.93's -oX layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.identify import Identification, identify
from camaudit.imports.nmap_xml import read_file
from camaudit.policy import load_policies

XML = Path(__file__).parent / "nmap" / "opinions.xml"


@pytest.fixture(scope="module")
def by_ip(fset: FingerprintSet) -> dict[str, Identification]:
    return {i.ip: i for i in identify(read_file(XML), fset, load_policies()) if i.ip}


def test_every_field_nmap_writes_is_recorded() -> None:
    obs = {(o.ip, o.port): o.data for o in read_file(XML) if o.source == "nmap"}
    assert obs[("198.18.0.63", 22)] == {"service": "ssh", "extrainfo": "protocol 2.0", "ostype": "VRP 5.120"}
    assert obs[("198.18.0.68", 80)]["hostname"] == "wiki.example.net"
    assert obs[("198.18.0.69", None)] == {"hostnames": ["cam-lobby.example.net"]}
    assert obs[("198.18.0.62", None)]["osmatch"] == [{
        "accuracy": 100, "name": "Huawei CloudEngine CE6800 switch",
        "osclass": [{"vendor": "Huawei", "osfamily": "embedded", "type": "switch",
                     "cpe": ["cpe:/h:huawei:cloudengine_ce6800"]}]}]


def test_only_the_best_os_guesses_are_kept() -> None:
    """nmap lists a Hikvision NVR at 92-93 % below a 96 % Linux for a plain Linux web server:
    only its best guess is its opinion."""
    [host] = [o.data for o in read_file(XML) if o.ip == "198.18.0.68" and o.port is None]
    assert [m["name"] for m in host["osmatch"]] == ["Linux 5.3 - 5.4"]


@pytest.mark.parametrize("ip,vendor,brand,evidence", [
    ("198.18.0.61", "Hikvision", "Hikvision", "hikvision.nmap.cpe"),               # service CPE only
    ("198.18.0.62", "Huawei", "Huawei", "huawei.nmap.os-cpe"),                     # OS class CPE only
    ("198.18.0.63", "Huawei", "Huawei", "huawei.nmap.ostype"),                     # OS type only
    ("198.18.0.64", "ZTE", "ZTE", "zte.nmap.extrainfo"),                           # extra info on a generic product
    ("198.18.0.65", "Hikvision", "EZVIZ", "hikvision.nmap.cpe-owned-label"),       # CPE of an owned label
    ("198.18.0.66", "Hikvision", "Hikvision", "hikvision.nmap.os-name"),           # OS match name only
])
def test_identified_through_what_nmap_says(by_ip: dict[str, Identification], ip: str, vendor: str,
                                           brand: str, evidence: str) -> None:
    ident = by_ip[ip]
    assert (ident.vendor, ident.brand, ident.flagged) == (vendor, brand, True)
    assert evidence in {e["fingerprint"] for e in ident.evidence}


def test_device_type_comes_from_nmap_device_type(by_ip: dict[str, Identification]) -> None:
    assert by_ip["198.18.0.66"].device_type == "camera"


@pytest.mark.parametrize("ip", ["198.18.0.67", "198.18.0.68"])
def test_other_makers_cpes_and_lower_os_guesses_flag_nothing(by_ip: dict[str, Identification], ip: str) -> None:
    assert (by_ip[ip].vendor, by_ip[ip].flagged) == (None, False)


def test_an_oem_label_alone_names_the_label_not_a_lineage(by_ip: dict[str, Identification]) -> None:
    ident = by_ip["198.18.0.69"]
    assert (ident.vendor, ident.brand, ident.flagged) == (None, "Amcrest", False)


def test_an_ipv6_host_from_nmap_dash_6_keeps_its_address_in_one_spelling() -> None:
    from camaudit.imports.nmap_xml import read_bytes

    xml = b"""<?xml version="1.0"?><nmaprun><host><status state="up"/>
<address addr="FDCA:A0D1:0:0::10" addrtype="ipv6"/><ports><port protocol="tcp" portid="80">
<state state="open"/><service name="http"/></port></ports></host>
<host><status state="up"/><address addr="fe80::0001%lab0" addrtype="ipv6"/></host></nmaprun>"""
    assert [h.ip for h in read_bytes(xml)] == ["fdca:a0d1::10", "fe80::1%lab0"]

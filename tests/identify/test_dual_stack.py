"""One device, one identification: a dual-stack device's IPv4 and IPv6 observations, and the
MAC an IPv6 address's modified EUI-64 interface identifier names (RFC 4291 appendix A)."""

from __future__ import annotations

import pytest

from camaudit.addresses import canonical_ip, eui64_mac
from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.identify import identify

from .test_identify import ALL, HIK_MAC, obs, one

# HIK_MAC c0:56:e3:12:34:56 as a modified EUI-64 interface identifier: c0 ^ 02 = c2
HIK_EUI64 = "c256:e3ff:fe12:3456"
SADP = {"fields": {"DeviceType": "138753", "DeviceDescription": "DS-2CD2032-I", "SoftwareVersion": "V5.4.5"}}


@pytest.mark.parametrize(("address", "mac"), [
    (f"2001:db8:5:0:{HIK_EUI64}", HIK_MAC),                       # global, routed
    (f"fdca:a0d1:1:2:{HIK_EUI64}", HIK_MAC),                     # unique local
    (f"fe80::{HIK_EUI64}%eth0", HIK_MAC),                        # link-local with its zone
    ("FE80::0211:22FF:FE33:4455", "00:11:22:33:44:55"),         # any spelling; U/L bit inverted back
    ("2001:db8::ff:fe00:1", "02:00:00:00:00:01"),               # a locally administered MAC: still a MAC
])
def test_eui64_interface_identifier_gives_the_mac(address: str, mac: str) -> None:
    assert eui64_mac(address) == mac


@pytest.mark.parametrize("address", [
    "2001:db8:5:0:a8c1:27d4:9b3e:10f2",   # RFC 8981 temporary address: random identifier
    "fe80::1c2d:3e4f:5a6b:7c8d%eth0",   # RFC 7217 stable random link-local
    "::ffff:198.18.0.5",                # IPv4-mapped: the low bits are an IPv4 address
    "::ffff:fe12:3456",                 # IPv4-compatible range, no interface identifier
    "ff02::1:ff12:3456",                # multicast (solicited-node)
    "::1", "::", "198.18.0.5", "not an address",
])
def test_no_mac_from_identifiers_not_derived_from_one(address: str) -> None:
    assert eui64_mac(address) is None


def test_ipv4_mapped_address_is_the_ipv4_address() -> None:
    assert canonical_ip("::ffff:198.18.0.5") == "198.18.0.5"
    assert canonical_ip("2001:DB8:0:0::1") == "2001:db8::1"
    assert canonical_ip("FE80::1%eth0") == "fe80::1%eth0"
    hostile = "FE80::1%" + "x" * 100_000      # neither parsed nor cached
    assert canonical_ip(hostile) is hostile and eui64_mac(hostile) is None


def test_dual_stack_device_with_one_mac_is_one_identification(fset: FingerprintSet) -> None:
    ident = one(fset, obs("arp", ip="198.18.0.10", mac=HIK_MAC),
                obs("sadp", SADP, ip="2001:db8:5::10", mac=HIK_MAC, port=37020),
                obs("http", {"path": "/", "status": 200}, ip=f"fe80::{HIK_EUI64}%eth0", mac=HIK_MAC, port=80))
    assert (ident.ip, ident.mac, ident.vendor) == ("198.18.0.10", HIK_MAC, "Hikvision")
    assert ident.ipv6 == ["2001:db8:5::10", f"fe80::{HIK_EUI64}%eth0"]
    assert ident.notes == [] and ident.to_dict()["ipv6"] == ident.ipv6


def test_macless_eui64_observation_joins_the_device_of_that_mac(fset: FingerprintSet) -> None:
    """A routed IPv6 answer carries no MAC, but its address names it: one device, not two."""
    idents = identify([obs("arp", ip="198.18.0.10", mac=HIK_MAC),
                       obs("sadp", SADP, ip=f"2001:db8:5:0:{HIK_EUI64}", port=37020)], fset, ALL)
    assert len(idents) == 1
    assert (idents[0].ip, idents[0].ipv6, idents[0].model) == (
        "198.18.0.10", [f"2001:db8:5:0:{HIK_EUI64}"], "DS-2CD2032-I")


def test_routed_ipv6_only_device_gets_its_mac_and_oui_from_eui64(fset: FingerprintSet) -> None:
    address = f"2001:db8:5:0:{HIK_EUI64}"
    ident = one(fset, obs("http", {"path": "/", "status": 200}, ip=address, port=80),
                obs("rtsp", {"status": 401}, ip=f"2001:DB8:5:0:{HIK_EUI64.upper()}", port=554))
    assert (ident.ip, ident.mac, ident.ipv6) == (address, HIK_MAC, [address])
    assert (ident.vendor, ident.tier) == ("Hikvision", "probable")
    assert ident.evidence[0] == {"source": "eui64", "port": None, "fingerprint": "oui", "field": "mac.oui",
                                 "value": f"C056E3/24 Hangzhou Hikvision Digital Technology Co.,Ltd. "
                                          f"(EUI-64 of {address})",
                                 "weight": 0.35, "vendor": "Hikvision", "brand": "Hikvision", "tier": "probable"}
    assert ident.notes == [f"MAC {HIK_MAC} derived from the EUI-64 interface identifier of {address} "
                           "(RFC 4291 appendix A); no frame with it was observed"]


def test_global_and_link_local_eui64_addresses_are_one_device(fset: FingerprintSet) -> None:
    idents = identify([obs("http", {"path": "/", "status": 200}, ip=f"2001:db8:5:0:{HIK_EUI64}", port=80),
                       obs("http", {"path": "/", "status": 200}, ip=f"fe80::{HIK_EUI64}%eth1", port=80)],
                      fset, ALL)
    assert [(i.mac, i.ipv6) for i in idents] == [
        (HIK_MAC, [f"2001:db8:5:0:{HIK_EUI64}", f"fe80::{HIK_EUI64}%eth1"])]


def test_privacy_address_gives_no_mac_and_says_so(fset: FingerprintSet) -> None:
    address = "2001:db8:5:0:a8c1:27d4:9b3e:10f2"
    ident = one(fset, obs("http", {"path": "/", "status": 200}, ip=address, port=80))
    assert (ident.ip, ident.mac, ident.organization, ident.ipv6) == (address, None, None, [address])
    assert all(e["source"] != "eui64" for e in ident.evidence)
    assert ident.notes == [f"IPv6 interface identifier of {address} is not MAC-derived (a temporary "
                           "or stable random address, RFC 8981, RFC 7217); no MAC, no OUI"]


def test_ipv4_mapped_observation_groups_with_the_ipv4_one(fset: FingerprintSet) -> None:
    idents = identify([obs("http", {"path": "/", "status": 200}, ip="198.18.0.10", port=80),
                       obs("sadp", SADP, ip="::ffff:198.18.0.10", port=37020)], fset, ALL)
    assert [(i.ip, i.ipv6, i.model, i.notes) for i in idents] == [("198.18.0.10", [], "DS-2CD2032-I", [])]


def test_an_observed_mac_wins_over_an_eui64_one(fset: FingerprintSet) -> None:
    """A device that put another MAC into its identifier (or was renumbered) is the MAC seen."""
    ident = one(fset, obs("arp", ip="2001:db8:5::10", mac=HIK_MAC),
                obs("http", {"path": "/", "status": 200}, ip="2001:db8:5::10", port=80))
    assert (ident.mac, ident.ipv6, ident.notes) == (HIK_MAC, ["2001:db8:5::10"], [])
    assert ident.evidence[0]["source"] == "mac"

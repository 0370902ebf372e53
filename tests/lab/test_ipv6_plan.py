"""The lab's IPv6 plan without building it: ULA only, EUI-64 derivation, persona checks."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from camaudit.lab import net6
from camaudit.lab.persona import PersonaError, load, load_many, shipped_paths
from camaudit.lab.topology import plan_devices

PERSONA = '''
id = "x-device"
[truth]
flagged = false
[net]
mac = "02:00:00:00:00:99"
{net}
'''


def write(tmp_path: Path, net: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(PERSONA.replace("{net}", net))
    return path


def test_eui64_follows_rfc_4291_appendix_a() -> None:
    # RFC 4291 App. A: flip the universal/local bit, put ff:fe in the middle
    assert net6.eui64(net6.LOCAL_NET6, "00:18:82:80:00:83") == "fdca:a0d1::218:82ff:fe80:83"
    assert net6.eui64(net6.ROUTED_NET6, "c0:56:e3:10:00:10") == "fdca:a0d1:0:1:c256:e3ff:fe10:10"


def test_ipv6_personas_are_ipv6_only_or_dual_stack_with_unique_ula_addresses() -> None:
    personas = load_many(shipped_paths(ipv6=True))   # ids, IPv4, IPv6 and MACs unique across all
    assert not [p for p in load_many(shipped_paths()) if p.ipv6], "the IPv4 lab must stay IPv4-only"
    v6 = [p for p in personas if p.ipv6]
    only = [p for p in v6 if p.ip is None]
    dual = [p for p in v6 if p.ip is not None]
    assert 2 <= len(only) <= 4 and len(dual) == 2
    assert {p.segment for p in only} == {"local", "routed"}
    assert net6.EUI64 in {p.ipv6 for p in dual} and any(p.ipv6 != net6.EUI64 for p in dual)
    for p in dual:
        assert 120 <= int(ipaddress.IPv4Address(p.ip)) - int(ipaddress.IPv4Address("198.18.0.0")) <= 139
    plan = plan_devices("x", v6)
    for d in plan.devices:
        assert ipaddress.IPv6Address(d.ipv6) in net6.NETS6[d.segment]
        assert ipaddress.IPv6Address(d.ipv6) in net6.LAB_NET6, "never a global prefix"
        assert d.truth()["ipv6"] == d.ipv6
        if d.persona.ip is None:
            assert d.ip == d.ipv6 and d.ipv4 is None
    eui = next(d for d in plan.devices if d.persona.ipv6 == net6.EUI64)
    assert eui.ipv6 == net6.eui64(net6.LOCAL_NET6, eui.mac)


@pytest.mark.parametrize("net, message", [
    ('ipv6 = "2001:db8::10"', "must be a host of fdca:a0d1::/64"),
    ('ipv6 = "fdca:a0d1:0:1::10"', "must be a host of fdca:a0d1::/64"),
    ('ipv6 = "fdca:a0d1:1::10"\nsegment = "routed"', "must be a host of fdca:a0d1:0:1::/64"),
    ('ipv6 = "fdca:a0d1::1"', "other than ::1"),
    ('ipv6 = "fdca:a0d1::fffe"', "other than ::1"),
    ('ipv6 = "camera"', "neither an IPv6 address"),
    ('ipv6 = "fdca:a0d1:0:1::10"\nsegment = "local"', "must be a host of fdca:a0d1::/64"),
])
def test_persona_ipv6_outside_its_segment_is_refused_naming_the_key(tmp_path: Path, net: str, message: str) -> None:
    with pytest.raises(PersonaError, match=rf"p.toml: net.ipv6: .*{message}"):
        load(write(tmp_path, net))


def test_eui64_needs_a_full_mac(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(PERSONA.replace('mac = "02:00:00:00:00:99"', 'oui = "02:00:00"').replace("{net}", 'ipv6 = "eui64"'))
    with pytest.raises(PersonaError, match="net.ipv6: an EUI-64 address needs a full `mac`"):
        load(path)


def test_ipv6_only_persona_gets_no_ipv4_address(tmp_path: Path) -> None:
    persona = load(write(tmp_path, 'ipv6 = "fdca:a0d1::99"'))
    [device] = plan_devices("x", [persona]).devices
    assert (device.ip, device.ipv4, device.ipv6) == ("fdca:a0d1::99", None, "fdca:a0d1::99")

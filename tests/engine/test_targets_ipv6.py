"""IPv6 targets: forms, zones, IPv4-mapped addresses, sweep caps, and hostile specs."""

from __future__ import annotations

import ipaddress

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from camaudit.cli import main
from camaudit.config import ConfigError, load_config
from camaudit.targets import TargetError, build_targets, drop_own_addresses, parse_spec

BASE6 = int(ipaddress.IPv6Address("fdca:a0d1::"))


def v6(offset: int) -> str:
    return str(ipaddress.IPv6Address(BASE6 + offset))


@pytest.mark.parametrize("spec,space,first,last", [
    ("fdca:a0d1::/120", "", "fdca:a0d1::", "fdca:a0d1::ff"),
    ("fdca:a0d1::7/120", "", "fdca:a0d1::", "fdca:a0d1::ff"),
    ("fdca:a0d1::10-fdca:a0d1::20", "", "fdca:a0d1::10", "fdca:a0d1::20"),
    ("FDCA:A0D1:0:0:0:0:0:0010", "", "fdca:a0d1::10", "fdca:a0d1::10"),
    ("fe80::1%lab0", "lab0", "fe80::1", "fe80::1"),
    ("fe80::1%lab-0", "lab-0", "fe80::1", "fe80::1"),         # a '-' in the zone is no range
    ("fe80::1%lab-0-fe80::9", "lab-0", "fe80::1", "fe80::9"),  # the right end inherits the zone
    ("fe80::%lab0/126", "lab0", "fe80::", "fe80::3"),          # RFC 4007 11.7 order
    ("fe80::/126%lab0", "lab0", "fe80::", "fe80::3"),
    ("::1", "", "::1", "::1"),
])
def test_ipv6_forms(spec: str, space: str, first: str, last: str) -> None:
    assert parse_spec(spec) == (space, (int(ipaddress.IPv6Address(first)), int(ipaddress.IPv6Address(last))))


@pytest.mark.parametrize("spec", ["::ffff:198.18.0.10", "::FFFF:c612:a"])
def test_ipv4_mapped_is_the_ipv4_host(spec: str) -> None:
    assert parse_spec(spec) == ("ipv4", (int(ipaddress.IPv4Address("198.18.0.10")),) * 2)
    assert parse_spec("::ffff:198.18.0.0/120") == parse_spec("198.18.0.0/24")


@pytest.mark.parametrize("spec,says", [
    ("fdca::1::2", "fdca::1::2"),
    ("fe80::1", "add %interface"),
    ("fe80::/120", "add %interface"),
    ("fe80::1%a b", "not an interface name"),
    ("fe80::1%" + "a" * 16, "not an interface name"),
    ("fdca:a0d1::1%lab0", "only belongs on a link-local"),
    ("fe80::1%a-fe80::2%b", "same zone"),
    ("fdca:a0d1::1-198.18.0.1", "cannot mix IPv4 and IPv6"),
    ("fdca:a0d1::1-20", "both ends in full"),
    ("fdca:a0d1::20-fdca:a0d1::10", "ends before it starts"),
    ("fdca:a0d1::/129", "fdca:a0d1::/129"),
    ("198.18.0.0/24%eth0", "has no zone"),
    ("fe80::%a/120%b", "fe80::%a/120%b"),
    ("f" * 10_000, "longer than 200 characters"),
    ("fe80::1%" + "x" * 10_000, "longer than 200 characters"),
])
def test_hostile_ipv6_specs_say_what(spec: str, says: str) -> None:
    with pytest.raises(TargetError) as err:
        build_targets([spec])
    message = str(err.value)
    assert says in message and len(message) < 400 and "\n" not in message


def test_a_slash_112_is_swept_a_slash_111_needs_force() -> None:
    exact = build_targets(["fdca:a0d1::/112"])
    assert len(exact) == 65_536 and len(exact.allowed6) == 1, "one interval, never one object per address"
    assert next(iter(exact)) == "fdca:a0d1::" and exact.permits("fdca:a0d1::ffff")
    with pytest.raises(TargetError, match=r"more than a /112.*--discover-ipv6.*--force"):
        build_targets(["fdca:a0d1::/111"])
    assert len(build_targets(["fdca:a0d1::/111"], force=True)) == 131_072


@pytest.mark.parametrize("spec", ["fdca:a0d1::/64", "::/0", "fdca:a0d1::/95", "fe80::%lab0/64"])
def test_a_subnet_cannot_be_swept_even_forced(spec: str) -> None:
    for force in (False, True):
        with pytest.raises(TargetError, match=r"even with --force.*--discover-ipv6"):
            build_targets([spec], force=force, max_targets=2**130)


def test_the_ipv6_cap_counts_what_is_left_after_excludes() -> None:
    left = build_targets(["fdca:a0d1::/111"], excludes=["fdca:a0d1::/112"])
    assert len(left) == 65_536 and not left.permits("fdca:a0d1::1") and left.permits("fdca:a0d1::1:1")


@pytest.mark.parametrize("spec,what", [("ff02::1", "IPv6 multicast"), ("ff05::/120", "IPv6 multicast"),
                                       ("::", "unspecified"), ("::ffff:224.0.0.1", "multicast")])
def test_ipv6_out_of_scope_is_refused_like_ipv4(spec: str, what: str) -> None:
    with pytest.raises(TargetError, match=f"{what}.*--exclude"):
        build_targets([spec])


def test_loopback_stays_allowed_in_both_families() -> None:
    assert build_targets(["::1", "127.0.0.1"]).permits("::1")


def test_zones_are_part_of_the_address() -> None:
    t = build_targets(["fe80::1%lab0", "fe80::%lab1/126"], excludes=["fe80::2"])
    assert t.permits("fe80::1%lab0") and t.permits("fe80::1%lab1") and t.permits("fe80::3%lab1")
    assert not t.permits("fe80::1%lab2") and not t.permits("fe80::1"), "which interface?"
    assert not t.permits("fe80::2%lab1"), "a zoneless exclude holds on every interface"
    assert list(t) == ["fe80::1%lab0", "fe80::%lab1", "fe80::1%lab1", "fe80::3%lab1"]
    assert [str(n) for n in t.networks6()] == ["fe80::1%lab0/128", "fe80::%lab1/127", "fe80::3%lab1/128"]
    inside, outside = t.split(ipaddress.IPv6Network("fe80::%lab1/64"))
    assert list(inside) == ["fe80::%lab1", "fe80::1%lab1", "fe80::3%lab1"] and list(outside) == ["fe80::1%lab0"]


def test_an_ipv4_exclude_covers_the_mapped_address_and_back() -> None:
    t = build_targets(["198.18.0.8/29", "::ffff:198.18.1.0/126"],
                      excludes=["198.18.1.1", "::ffff:198.18.0.9"])
    for excluded in ("198.18.1.1", "::ffff:198.18.1.1", "198.18.0.9", "::ffff:198.18.0.9", "::FFFF:C612:9"):
        assert not t.permits(excluded), excluded
    assert t.permits("::ffff:198.18.1.2") and t.permits("198.18.0.10")
    assert t.allowed6 == () and len(t) == 8 + 4 - 2
    with pytest.raises(TargetError, match="every target is excluded"):
        build_targets(["::ffff:198.18.0.10"], excludes=["198.18.0.10"])


@pytest.mark.parametrize("ip", ["fdca::1::2", "", "x" * 10_000, "fdca:a0d1::10%" + "z" * 10_000, "fe80::1"])
def test_permits_refuses_non_addresses(ip: str) -> None:
    assert not build_targets(["fdca:a0d1::/120", "fe80::1%lab0"]).permits(ip)


def test_dual_stack_set_splits_and_drops_own_addresses() -> None:
    t = build_targets(["198.18.0.0/30", "fdca:a0d1::/126"])
    assert len(t) == 8 and list(t)[3:5] == ["198.18.0.3", "fdca:a0d1::"]
    inside, routed = t.split(ipaddress.IPv4Network("198.18.0.0/24"))
    assert len(inside) == 4 and len(routed) == 4 and routed.permits("fdca:a0d1::3")
    left, (message,) = drop_own_addresses(t, ["fdca:a0d1:0::1", "198.18.0.1", "fdca:a0d1::99"])
    assert not left.permits("fdca:a0d1::1") and left.permits("fdca:a0d1::2") and len(left) == 6
    assert message.startswith("not scanning 198.18.0.1, fdca:a0d1::1: ")


@settings(max_examples=150, deadline=None)
@given(include=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40)), min_size=1, max_size=5),
       exclude=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40)), max_size=5))
def test_ipv6_permits_matches_set_model(include, exclude) -> None:
    model: set[int] = set()
    for a, n in include:
        model |= set(range(a, a + n + 1))
    for a, n in exclude:
        model -= set(range(a, a + n + 1))
    specs = [f"{v6(a)}-{v6(a + n)}" for a, n in include]
    excl = [f"{v6(a)}/128" if n == 0 else f"{v6(a)}-{v6(a + n)}" for a, n in exclude]
    if not model:
        with pytest.raises(TargetError):
            build_targets(specs, excludes=excl)
        return
    t = build_targets(specs, excludes=excl)
    assert len(t) == len(model) and list(t) == [v6(o) for o in sorted(model)]
    assert all(t.permits(v6(o)) == (o in model) for o in range(0, 345))
    assert {int(a) - BASE6 for net in t.networks6() for a in net} == model


def test_cli_refuses_a_forced_slash_64_pointing_at_discovery(monkeypatch) -> None:
    monkeypatch.setenv("CAMAUDIT_CONFIG", "/dev/null")
    result = CliRunner().invoke(main, ["scan", "--no-store", "--force", "fdca:a0d1::/64"])
    assert result.exit_code == 2
    assert "--discover-ipv6" in result.stderr and "even with --force" in result.stderr


def test_cli_refuses_a_zoneless_link_local_saying_add_interface(monkeypatch) -> None:
    monkeypatch.setenv("CAMAUDIT_CONFIG", "/dev/null")
    result = CliRunner().invoke(main, ["scan", "--no-store", "fe80::1"])
    assert result.exit_code == 2 and "%interface" in result.stderr


def test_config_accepts_ipv6_and_zoneless_link_local_excludes(tmp_path) -> None:
    path = tmp_path / "camaudit.toml"
    path.write_text('targets = ["fdca:a0d1::/120", "fe80::1%lab0"]\nexcludes = ["fe80::/10", "fdca:a0d1::1"]\n')
    config = load_config(config_path=path, env={})
    assert config["targets"] == ["fdca:a0d1::/120", "fe80::1%lab0"] and config["excludes"][0] == "fe80::/10"
    path.write_text('targets = ["fe80::1"]\n')
    with pytest.raises(ConfigError, match="add %interface"):
        load_config(config_path=path, env={})


ADDRESS_ALPHABET = "0123456789abcdefABCDEF:.%/-fe80ffff lab\u0660\u00b2"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=ADDRESS_ALPHABET, max_size=80) | st.text(max_size=40))
def test_any_text_is_a_target_error_or_a_target_never_a_crash(spec: str) -> None:
    t = build_targets(["fdca:a0d1::/120", "fe80::%lab/126", "198.18.0.0/24"])
    assert t.permits(spec) in (True, False)
    try:
        space, (first, last) = parse_spec(spec, exclude=True)
    except TargetError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600
        return
    assert 0 <= first <= last < (2**32 if space == "ipv4" else 2**128)
    assert space == "ipv4" or space == "" or space in spec

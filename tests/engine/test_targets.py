"""Target parsing and the one permits() rule, against a naive set model (hypothesis)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camaudit.targets import TargetError, build_targets, drop_own_addresses, merge, parse_spec, subtract

BASE = int(ipaddress.IPv4Address("198.18.0.0"))


def ip(offset: int) -> str:
    return str(ipaddress.IPv4Address(BASE + offset))


@pytest.mark.parametrize("spec,first,last", [
    ("198.18.0.0/24", "198.18.0.0", "198.18.0.255"),
    ("198.18.0.7/24", "198.18.0.0", "198.18.0.255"),
    ("198.18.0.10-40", "198.18.0.10", "198.18.0.40"),
    ("198.18.0.250-198.18.1.5", "198.18.0.250", "198.18.1.5"),
    (" 198.18.0.9 ", "198.18.0.9", "198.18.0.9"),
])
def test_parse_forms(spec: str, first: str, last: str) -> None:
    assert parse_spec(spec) == ("ipv4", (int(ipaddress.IPv4Address(first)), int(ipaddress.IPv4Address(last))))


@pytest.mark.parametrize("spec", ["", "camera.example", "198.18.0.40-10", "198.18.0.1-300",
                                  "198.18.0.0/33", "198.18.0.1-198.18.0.0"])
def test_bad_specs_say_what(spec: str) -> None:
    with pytest.raises(TargetError) as err:
        parse_spec(spec)
    assert "target" in str(err.value)


def test_no_targets_is_refused_not_guessed() -> None:
    with pytest.raises(TargetError, match="never picks targets"):
        build_targets([])


def test_cap_needs_force() -> None:
    with pytest.raises(TargetError, match="--force"):
        build_targets(["198.18.0.0/15"], max_targets=65536)
    assert len(build_targets(["198.18.0.0/15"], max_targets=65536, force=True)) == 131072


def test_everything_excluded_is_an_error() -> None:
    with pytest.raises(TargetError, match="excluded"):
        build_targets(["198.18.0.0/30"], excludes=["198.18.0.0/24"])


def test_files_with_comments(tmp_path) -> None:
    (tmp_path / "t").write_text("# lab\n198.18.0.0/28, 198.18.1.5\n\n198.18.2.1-3  # three\n")
    (tmp_path / "x").write_text("198.18.0.3\n")
    t = build_targets(files=[tmp_path / "t"], exclude_files=[tmp_path / "x"])
    assert len(t) == 16 + 1 + 3 - 1
    assert not t.permits("198.18.0.3") and t.permits("198.18.2.2") and not t.permits("198.18.2.4")


def test_missing_file_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(TargetError, match="cannot read"):
        build_targets(files=[tmp_path / "nope"])


def test_without_and_split() -> None:
    t = build_targets(["198.18.0.0/24", "198.18.1.0/30"]).without(["198.18.0.1"])
    assert not t.permits("198.18.0.1")
    inside, outside = t.split(ipaddress.IPv4Network("198.18.0.0/24"))
    assert len(inside) == 255 and len(outside) == 4
    assert not inside.permits("198.18.0.1") and not inside.permits("198.18.1.1")


def test_own_addresses_are_dropped_with_one_message_naming_them() -> None:
    named = build_targets(["198.18.0.0/29", "127.0.0.1"])
    own = ["127.0.0.1", "198.18.0.1", "198.18.0.2", "10.1.2.3"]  # 10.1.2.3: not a target
    left, messages = drop_own_addresses(named, own)
    assert len(left) == 6 and not left.permits("127.0.0.1") and not left.permits("198.18.0.2")
    assert messages == ["not scanning 127.0.0.1, 198.18.0.1, 198.18.0.2: this host's own addresses "
                        "(camaudit never probes the machine it runs on)"]
    assert drop_own_addresses(named, ["10.1.2.3"]) == (named, [])
    many = [f"198.18.0.{i}" for i in range(8)]
    left, (message,) = drop_own_addresses(named, many)
    assert len(left) == 1 and "198.18.0.4 and 3 more" in message


intervals = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40)).map(lambda t: (t[0], t[0] + t[1])),
                     min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(include=intervals, exclude=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40))
                                           .map(lambda t: (t[0], t[0] + t[1])), max_size=6))
def test_permits_matches_set_model(include, exclude) -> None:
    model = set()
    for a, b in include:
        model |= set(range(a, b + 1))
    for a, b in exclude:
        model -= set(range(a, b + 1))
    specs = [f"{ip(a)}-{ip(b)}" for a, b in include]
    excl = [f"{ip(a)}-{ip(b)}" for a, b in exclude]
    if not model:
        with pytest.raises(TargetError):
            build_targets(specs, excludes=excl)
        return
    t = build_targets(specs, excludes=excl)
    assert len(t) == len(model)
    assert list(t) == [ip(o) for o in sorted(model)]
    for offset in range(0, 345):
        assert t.permits(ip(offset)) == (offset in model)
    covered = {int(a) - BASE for net in t.networks() for a in net}
    assert covered == model


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)).map(sorted).map(tuple), max_size=8),
       st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)).map(sorted).map(tuple), max_size=8))
def test_subtract_is_set_difference(a, b) -> None:
    got = subtract(merge(a), merge(b))
    expected = set().union(*(range(x, y + 1) for x, y in a)) - set().union(*(range(x, y + 1) for x, y in b))
    assert set().union(*(range(x, y + 1) for x, y in got)) == expected
    assert got == merge(got)

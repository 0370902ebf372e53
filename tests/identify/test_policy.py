"""Policies: shipped files are valid, name the right entities, and select cleanly."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from camaudit.policy import PolicyError, load_policies, parse_policy

VENDORS = frozenset({"Hikvision", "Dahua", "Huawei", "ZTE", "Hytera"})


def test_shipped_policies_and_their_entities() -> None:
    policies = {p.id: p for p in load_policies()}
    assert set(policies) == {"us-ndaa-889", "us-fcc-covered-list", "ca-hikvision-2025",
                             "uk-sensitive-sites-2022", "au-commonwealth-2023"}
    assert policies["us-ndaa-889"].vendors == VENDORS
    assert policies["us-fcc-covered-list"].vendors == VENDORS
    assert policies["ca-hikvision-2025"].vendors == {"Hikvision"}
    assert policies["uk-sensitive-sites-2022"].vendors == {"Hikvision", "Dahua"}
    assert policies["au-commonwealth-2023"].vendors == {"Hikvision", "Dahua"}
    assert str(policies["us-ndaa-889"].effective) == "2019-08-13"
    assert "Pub. L. 115-232" in policies["us-ndaa-889"].citation
    assert all(p.scope and p.citation and p.title for p in policies.values())


def test_flags_by_lineage_and_confidence() -> None:
    policies = load_policies()
    assert policies.flags(SimpleNamespace(vendor="Dahua", confidence=0.3)) == [
        "au-commonwealth-2023", "uk-sensitive-sites-2022", "us-fcc-covered-list", "us-ndaa-889"]
    assert policies.flags(SimpleNamespace(vendor="Uniview", confidence=1.0)) == []
    assert policies.flags(SimpleNamespace(vendor=None, confidence=0.0)) == []


def test_unknown_policy_id_names_the_available_ones() -> None:
    with pytest.raises(PolicyError, match="unknown policy id.*us-ndaa-88.*available: au-commonwealth-2023"):
        load_policies(["us-ndaa-88"])


GOOD = '''id = "x"
title = "t"
jurisdiction = "j"
citation = "c"
effective = 2020-01-01
scope = "s"
min_confidence = 0.5
[[entity]]
vendor = "Hikvision"
named_as = "Hikvision"
'''


def test_min_confidence_is_honoured() -> None:
    p = parse_policy(GOOD, "x.toml", VENDORS)
    assert p.flags(SimpleNamespace(vendor="Hikvision", confidence=0.5))
    assert not p.flags(SimpleNamespace(vendor="Hikvision", confidence=0.35))


@pytest.mark.parametrize("change,message", [
    (('vendor = "Hikvision"', 'vendor = "Hikvison"'), "vendor 'Hikvison' is not a vendor"),
    (("effective = 2020-01-01", 'effective = "2020"'), "TOML date"),
    (('citation = "c"', 'citation = ""'), "'citation' must be a non-empty string"),
    (("min_confidence = 0.5", "min_confidence = 2"), "min_confidence"),
    (('scope = "s"', 'scope = "s"\ncolour = "red"'), "unknown keys ['colour']"),
])
def test_bad_policy_files_say_what_is_wrong(change: tuple[str, str], message: str) -> None:
    with pytest.raises(PolicyError, match=r"^bad\.toml: ") as err:
        parse_policy(GOOD.replace(*change), "bad.toml", VENDORS)
    assert message in str(err.value)


def test_policy_file_with_wrong_types_is_a_policy_error() -> None:
    """Found by tests/fuzz: `vendor = []` in an [[entity]] raised TypeError."""
    head = ('id = "p"\ntitle = "t"\njurisdiction = "j"\ncitation = "c"\nscope = "s"\n'
            "effective = 2020-01-01\n")
    for bad in (head + '[[entity]]\nvendor = []\nnamed_as = "x"\n', head + "entity = 5\n",
                head + 'entity = ["x"]\n'):
        with pytest.raises(PolicyError, match="pol.toml"):
            parse_policy(bad, "pol.toml", frozenset({"Hikvision"}))

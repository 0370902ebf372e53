"""Hostile observation data never crashes identification, and what it reports stays bounded."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.fingerprints.schema import SOURCES
from camaudit.identify import MAX_EVIDENCE, identify
from camaudit.observation import Observation
from camaudit.policy import load_policies

EXAMPLES = int(os.environ.get("CAMAUDIT_FUZZ_EXAMPLES", "200"))
KEYS = st.sampled_from(["headers", "Server", "server", "WWW-Authenticate", "body", "title", "path", "fields",
                        "DeviceType", "OEMInfo", "Vendor", "scopes", "types", "device_info", "manufacturer",
                        "model", "subject", "issuer", "hex", "status", "favicon_mmh3", "sys_object_id"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=300), st.sampled_from(["App-webs/", "Webs", "HIKVISION", "vendor=Dahua",
                                                            "onvif://www.onvif.org/name/%48IKVISION", "\u00a0"]))
DATA = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)


@pytest.mark.fuzz
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(sorted(SOURCES)), data=st.dictionaries(KEYS, DATA, max_size=6),
       mac=st.one_of(st.none(), st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":"))))
def test_any_observation_data_identifies_without_error(fset: FingerprintSet, source: str, data: dict, mac: str | None) -> None:
    obs = Observation(source=source, ip="198.18.0.9", mac=mac, port=80, data=data)
    (ident,) = identify([obs, obs], fset, load_policies())
    assert 0.0 <= ident.confidence <= 1.0
    assert len(ident.evidence) <= MAX_EVIDENCE
    assert all(len(e["value"]) <= 200 for e in ident.evidence)
    assert ident.flagged == bool(ident.policies)
    if mac and int(mac[:2], 16) & 0x03:
        assert ident.organization is None
    ident.to_json()

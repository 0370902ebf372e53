"""Properties of the neutralisers, over arbitrary text."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st

from camaudit.report.sanitize import is_formula_like, neutralize_formula, printable, xml_safe

EXAMPLES = int(os.environ.get("CAMAUDIT_FUZZ_EXAMPLES", "300"))


@pytest.mark.fuzz
@settings(max_examples=EXAMPLES)
@given(st.text())
def test_neutralized_text_is_never_formula_like_and_loses_nothing(text):
    out = neutralize_formula(text)
    assert not is_formula_like(out) or out.startswith("'")
    assert out in (text, "'" + text)
    assert not out.lstrip(" \u00a0\u3000").startswith(("=", "+", "-", "@", "\t", "\r", "\n"))


def test_ordinary_values_are_unchanged():
    for text in ("DS-2CD2042WD-I", "Hikvision", "198.18.0.5", "V5.4.5 build 170124", ""):
        assert neutralize_formula(text) == text


@pytest.mark.fuzz
@settings(max_examples=EXAMPLES)
@given(st.text())
def test_printable_has_no_control_characters(text):
    out = printable(text)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in out)


def test_printable_shows_escapes_instead_of_sending_them():
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("x\u202ey") == "x\\u202ey"


@pytest.mark.fuzz
@settings(max_examples=EXAMPLES)
@given(st.text(), st.integers(min_value=2, max_value=50))
def test_xml_safe_is_bounded_and_valid_xml_text(text, limit):
    out = xml_safe(text, limit)
    assert len(out) <= limit
    assert all(ord(ch) in (9, 10, 13) or 0x20 <= ord(ch) <= 0xD7FF or 0xE000 <= ord(ch) <= 0xFFFD
               or ord(ch) >= 0x10000 for ch in out)

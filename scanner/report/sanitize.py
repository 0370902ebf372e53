"""Make device-controlled strings inert for the place they end up.

Everything in an export that a device answered (banners, model names, ONVIF scopes, TLS
subjects) is attacker-controlled. Spreadsheets evaluate cells that look like formulas and
terminals obey escape sequences, so each sink gets its own neutraliser here; HTML is handled
by Jinja2 autoescape in `html.py`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.text import Text

# Characters that make Excel / LibreOffice / Google Sheets treat a cell as a formula or a
# DDE command (OWASP "CSV Injection"), plus their full-width forms, which some spreadsheet
# locales fold to ASCII on entry.
_FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_LEADING_BLANKS = " \u00a0\u3000"


def neutralize_formula(text: str) -> str:
    """Prefix a cell that a spreadsheet would evaluate with `'`, which makes it plain text.

    Leading blanks are looked through, because applications trim them before deciding.
    Text that is not formula-like is returned unchanged, so ordinary values stay readable.
    """
    if is_formula_like(text):
        return "'" + text
    return text


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet could read `text` as a formula, DDE call or continuation."""
    stripped = text.lstrip(_LEADING_BLANKS)
    return bool(stripped) and stripped[0] in _FORMULA_TRIGGERS


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text safe to print on a terminal: control and bidi-override characters become `\\xNN`.

    A banner holding ESC sequences could otherwise retitle the terminal, hide lines or move
    the cursor; bidi overrides could make a listing read differently from what it holds.
    Tabs and newlines are kept as spaces so tables stay one line per cell.
    """
    text = text.replace("\t", " ").replace("\n", " ")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def inert_text(value: Any, blank: str = "") -> Text:
    """A value for a rich table cell: `printable`, and plain `Text`, so rich reads no markup
    (`[link=...]` in a banner) in it. None and "" show as `blank`."""
    from rich.text import Text

    return Text(blank if value is None or value == "" else printable(str(value)))


_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str, limit: int) -> str:
    """Text an XLSX cell can hold: no characters XML 1.0 forbids, at most `limit` characters.

    Excel refuses cells over 32,767 characters and XML cannot carry most C0 controls; a
    device that sends either must not make a row vanish from the export.
    """
    cleaned = _XML_INVALID.sub("\ufffd", text)
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "\u2026"
    return cleaned

"""Make device-controlled strings inert for the place they end up.

Everything in an export that a device answered (banners, model names, ONVIF scopes, TLS
subjects) is attacker-controlled. Spreadsheets evaluate cells that look like formulas and
terminals obey escape sequences, so each sink gets its own neutraliser here; HTML is handled
by Jinja2 autoescape in `html.py`.
"""

from __future__ import annotations

import codecs
import io
import re
from typing import TYPE_CHECKING, Any, BinaryIO

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


# C0 controls but tab and newline, DEL, C1 controls (0x9b is a one-byte CSI), line/paragraph
# separators and the bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` with every control and bidi-override character shown as a `\\xNN`/`\\uNNNN` escape.

    A banner holding ESC sequences could otherwise retitle the terminal, hide lines or move
    the cursor; bidi overrides could make a listing read differently from what it holds.
    Tabs and newlines are kept. This is the one terminal cleaner: tables (`printable`) and
    exports written to a terminal (`TerminalWriter`) both use it.
    """
    return _CONTROL.sub(_escape, text)


def printable(text: str) -> str:
    """One table cell safe on a terminal: tabs and newlines as spaces, controls escaped."""
    return escape_controls(text.replace("\t", " ").replace("\n", " "))


class TerminalWriter(io.RawIOBase):
    """A binary stream for an export going to a terminal: the bytes pass through
    `escape_controls`, so ESC, C1 and bidi characters a device sent cannot drive it.

    Only for a TTY: a file or pipe gets the export byte for byte. Line ends `\\r\\n` (CSV)
    become `\\n` (the terminal shows both alike); a lone `\\r`, which would let a value
    overwrite its own line, is escaped like any control.
    """

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._carry = ""  # a trailing \r: its \n may come with the next write

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        text = self._carry + self._decoder.decode(bytes(data))
        self._carry = "\r" if text.endswith("\r") else ""
        self._emit(text[:-1] if self._carry else text)
        return len(data)

    def flush(self) -> None:
        if not self.closed:
            tail, self._carry = self._carry + self._decoder.decode(b"", final=True), ""
            self._emit(tail)
            self._raw.flush()

    def _emit(self, text: str) -> None:
        if text:
            self._raw.write(escape_controls(text.replace("\r\n", "\n")).encode("utf-8"))


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

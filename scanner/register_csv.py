"""Reading the agency's asset register (CSV) into rows the inventory stores, all or nothing.

Columns are found by header, case and spacing aside (docs/inventory.md, "Asset register"):

    mac        mac, mac address, hardware address, ethernet address
    ip         ip, ip address, ipv4, ipv4 address
    asset_tag  asset tag, tag, asset, asset id, asset number, inventory number
    location   location, room, site location, building, site
    owner      owner, responsible, custodian, contact
    vendor     vendor, manufacturer, make

Any other column is kept as data (`extra`, header → value). A row needs a MAC or an IP;
MACs and IPs must be valid and unique in the file. Every bad row is reported with its line
number and nothing is loaded. Values are data: a cell starting with `=`, `+`, `-` or `@`
(CSV injection) is stored exactly as written and never evaluated here.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camaudit.boundedio import TooLarge, read_capped
from camaudit.observation import normalize_mac

MAX_FILE_BYTES = 32 << 20      # a register of 100 000 devices is ~10 MiB
MAX_ROWS = 200_000
MAX_FIELD_CHARS = 200          # the store's column width
MAX_COLUMNS = 64
MAX_ERRORS_SHOWN = 50

COLUMNS: dict[str, tuple[str, ...]] = {
    "mac": ("mac", "mac address", "hardware address", "ethernet address"),
    "ip": ("ip", "ip address", "ipv4", "ipv4 address"),
    "asset_tag": ("asset tag", "tag", "asset", "asset id", "asset number", "inventory number"),
    "location": ("location", "room", "site location", "building", "site"),
    "owner": ("owner", "responsible", "custodian", "contact"),
    "vendor": ("vendor", "manufacturer", "make"),
}
_ALIAS = {alias: name for name, aliases in COLUMNS.items() for alias in aliases}
_MAC = re.compile(r"^(?:[0-9A-Fa-f]{2}([-:]?)[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}"
                  r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})$")


@dataclass(frozen=True, slots=True)
class RegisterRow:
    line: int
    mac: str | None
    ip: str | None
    asset_tag: str | None = None
    location: str | None = None
    owner: str | None = None
    vendor: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class RegisterError(ValueError):
    """The file cannot be loaded; `problems` are (line, message), line 0 for the whole file."""

    def __init__(self, path: str, problems: list[tuple[int, str]]) -> None:
        self.path, self.problems = path, problems
        super().__init__(f"{path}: {len(problems)} problem(s); nothing was loaded")

    def lines(self) -> list[str]:
        shown = [f"{self.path}:{line}: {msg}" if line else f"{self.path}: {msg}"
                 for line, msg in self.problems[:MAX_ERRORS_SHOWN]]
        if len(self.problems) > MAX_ERRORS_SHOWN:
            shown.append(f"{self.path}: … and {len(self.problems) - MAX_ERRORS_SHOWN} more")
        return shown


def header_key(text: str) -> str:
    """`MAC_Address`, ` mac-address ` → "mac address"."""
    return " ".join(text.replace("_", " ").replace("-", " ").split()).casefold()


def read_register(path: Path) -> list[RegisterRow]:
    """Every row of the register at `path`; RegisterError listing every problem otherwise."""
    where = str(path)
    try:
        text = read_capped(path, MAX_FILE_BYTES).decode("utf-8-sig")
    except TooLarge:
        raise RegisterError(where, [(0, f"larger than the {MAX_FILE_BYTES}-byte cap")]) from None
    except UnicodeDecodeError as exc:
        line = text_line(exc.object, exc.start)
        raise RegisterError(where, [(line, "not UTF-8 text; save the register as CSV UTF-8")]) from None
    except OSError as exc:
        raise RegisterError(where, [(0, f"cannot read ({exc.strerror or exc})")]) from None
    return parse_register(text, where)


def text_line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def parse_register(text: str, where: str = "register") -> list[RegisterRow]:
    problems: list[tuple[int, str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise RegisterError(where, [(1, f"header is not CSV ({exc})")]) from None
    if not header:
        raise RegisterError(where, [(0, "empty file; expected a header line naming MAC and/or IP")])
    columns = _map_header(header, problems, where)
    rows: list[RegisterRow] = []
    seen: dict[tuple[str, str], int] = {}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append((reader.line_num, f"not CSV ({exc})"))
            break
        line = reader.line_num
        if len(rows) >= MAX_ROWS:
            problems.append((line, f"more than {MAX_ROWS} rows"))
            break
        if not any(c.strip() for c in cells):
            continue
        row = _row(line, header, columns, cells, problems)
        if row is None:
            continue
        for key in ("mac", "ip"):
            value = getattr(row, key)
            if value is not None and (key, value) in seen:
                problems.append((line, f"{key.upper()} {value} is also on line {seen[key, value]}"))
            elif value is not None:
                seen[key, value] = line
        rows.append(row)
    if problems:
        raise RegisterError(where, problems)
    return rows


def _map_header(header: list[str], problems: list[tuple[int, str]], where: str) -> dict[int, str]:
    """Column index → field (mac, ip, …) or `extra:<header>`."""
    if len(header) > MAX_COLUMNS:
        raise RegisterError(where, [(1, f"more than {MAX_COLUMNS} columns")])
    columns: dict[int, str] = {}
    for i, name in enumerate(header):
        key = header_key(name)
        if len(name) > MAX_FIELD_CHARS or not key:
            problems.append((1, f"column {i + 1}: header is empty or longer than {MAX_FIELD_CHARS} characters"))
            continue
        target = _ALIAS.get(key, f"extra:{name.strip()}")
        if target in columns.values():
            problems.append((1, f"column {i + 1} ({name.strip()!r}) repeats {target.removeprefix('extra:')!r}"))
            continue
        columns[i] = target
    if "mac" not in columns.values() and "ip" not in columns.values():
        problems.append((1, "no MAC or IP column; name one e.g. \"MAC address\" or \"IP address\""))
    if problems:
        raise RegisterError(where, problems)
    return columns


def _row(line: int, header: list[str], columns: dict[int, str], cells: list[str],
         problems: list[tuple[int, str]]) -> RegisterRow | None:
    if len(cells) > len(header):
        problems.append((line, f"{len(cells)} cells for {len(header)} columns"))
        return None
    fields: dict[str, Any] = {"extra": {}}
    before = len(problems)
    for i, raw in enumerate(cells):
        value = raw.strip()
        if len(value) > MAX_FIELD_CHARS:
            problems.append((line, f"{header[i].strip()!r} is longer than {MAX_FIELD_CHARS} characters"))
            continue
        target = columns.get(i)
        if not value or target is None:
            continue
        if target.startswith("extra:"):
            fields["extra"][target[6:]] = value
        else:
            fields[target] = value
    mac, ip = fields.pop("mac", None), fields.pop("ip", None)
    if mac is not None:
        if _MAC.match(mac):
            mac = normalize_mac(mac)
        else:
            problems.append((line, f"{mac!r} is not a MAC address"))
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            problems.append((line, f"{ip!r} is not an IP address"))
    if mac is None and ip is None:
        problems.append((line, "neither a MAC nor an IP address"))
    if len(problems) > before:
        return None
    return RegisterRow(line=line, mac=mac, ip=ip, **fields)

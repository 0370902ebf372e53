"""Injection: the exports' payload battery and SQL-ish strings through every field, end to end.

The strings a device controls (model, firmware, serial, brand, type, evidence, observation
data) and those a user types (site, owner, note, actor) go into a real SQLite inventory
through the Store and the `remediate` command, and out through every export and the terminal
listings. Expected (the contract of docs/exports.md): the database holds them as data (schema
and row counts intact, values returned as given — NUL dropped, trimmed, cut at the column
length), CSV cells never evaluate, XLSX cells are text (quote-prefixed when formula-like), the
HTML never executes them, JSON returns them verbatim, and terminal output has no escape codes.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sqlite3
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from camaudit.identify import Identification
from camaudit.observation import Observation
from camaudit.report.sanitize import is_formula_like

REPO = Path(__file__).resolve().parents[2]
CAMAUDIT = [sys.executable, "-m", "camaudit"]


def _report_payloads() -> tuple[str, ...]:
    """The export issue's battery, from its one definition (tests/report/conftest.py)."""
    spec = importlib.util.spec_from_file_location("_report_conftest", REPO / "tests" / "report" / "conftest.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.PAYLOADS


SQLISH = (
    "'; DROP TABLE assets;--",
    "\"; DROP TABLE findings; --",
    "Robert'); DROP TABLE scans;--",
    "' OR '1'='1",
    "1 OR 1=1",
    "%' UNION SELECT sql, 1, 1 FROM sqlite_master --",
    "'; ATTACH DATABASE '/tmp/camaudit-pwned.db' AS p; CREATE TABLE p.t(x);--",
    "\\'; SELECT load_extension('/tmp/x');--",
    "_%\\",
    "nul\x00byte",
    "\u202egnp.exe",
)
PAYLOADS = _report_payloads() + SQLISH
TEXT_FIELDS = ("vendor", "brand", "model", "firmware", "serial", "device_type")
STORED_CHARS = 200   # the shortest text column the payloads land in (db/models.py)


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CAMAUDIT, *args], capture_output=True, text=True, timeout=120, cwd=REPO)
    if check:
        assert proc.returncode in (0, 1), proc.stderr
    return proc


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> dict[str, Any]:
    from camaudit.db.store import Store
    from camaudit.policy import load_policies

    work = tmp_path_factory.mktemp("inject")
    url = f"sqlite:///{work / 'inv.sqlite3'}"
    policies = list(load_policies(None))
    with Store(url) as store:
        schema = _schema(work / "inv.sqlite3")
        scan_id = store.begin_scan(["198.18.0.0/24"], "hq'; DROP TABLE scans;--", policies, "test", None)
        idents, observations = [], []
        for n, payload in enumerate(PAYLOADS, start=1):
            ip, mac = f"198.18.0.{n + 10}", f"c0:56:e3:00:01:{n:02x}"
            evidence = [{"source": "http", "port": 80, "fingerprint": payload, "field": "http.title",
                         "value": payload, "weight": 0.9, "vendor": payload}]
            idents.append(Identification(ip=ip, mac=mac, **{f: payload for f in TEXT_FIELDS},
                                         organization=payload, flagged=True,
                                         policies=[policies[0].id], confidence=0.9, evidence=evidence,
                                         statuses={payload: payload}))
            observations.append(Observation(source="http", ip=ip, mac=mac, port=80,
                                            data={"path": "/", "status": 200, "headers": {payload: payload},
                                                  "title": payload, "body": payload}, error=payload))
        store.add_observations(scan_id, observations)
        store.record_identifications(scan_id, idents, covered=["198.18.0.0/24"])
        store.finish_scan(scan_id, "complete")
        findings = {r["mac"]: r["finding_id"] for r in store.finding_rows()}
    for n, payload in enumerate(PAYLOADS, start=1):
        typed = _typed(payload)
        run("remediate", f"F{findings[f'c0:56:e3:00:01:{n:02x}']}", "--status", "in_progress",
            f"--owner={typed}", f"--note={typed}", f"--actor={typed}", "--db", url)
    return {"url": url, "db": work / "inv.sqlite3", "work": work, "schema": schema}


def _schema(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT type, name FROM sqlite_master ORDER BY type, name").fetchall()


def _stored(payload: str) -> str:
    """What the store keeps of a text value: NUL dropped, outer blanks trimmed, column-capped."""
    return payload.replace("\x00", "").strip()[:STORED_CHARS]


def _typed(payload: str) -> str:
    """What a user can type as an argument: everything but NUL (argv cannot carry it)."""
    return payload.replace("\x00", "")


def test_database_keeps_payloads_as_data(inventory, figures) -> None:
    from camaudit.db.store import Store

    assert _schema(inventory["db"]) == inventory["schema"]      # nothing dropped, attached or created
    assert not Path("/tmp/camaudit-pwned.db").exists()
    with sqlite3.connect(inventory["db"]) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM assets").fetchone() == (len(PAYLOADS),)
        assert conn.execute("SELECT site FROM scans").fetchall() == [("hq'; DROP TABLE scans;--",)]
    with Store(inventory["url"]) as store:
        rows = {r["mac"]: r for r in store.finding_rows()}
    assert len(rows) == len(PAYLOADS)
    for n, payload in enumerate(PAYLOADS, start=1):
        row = rows[f"c0:56:e3:00:01:{n:02x}"]
        for key in ("model", "firmware", "serial", "brand"):
            assert row[key] == _stored(payload), (key, payload)
        for key in ("owner", "note"):   # typed by the user: kept as typed (NUL aside), column-capped
            assert row[key] == _typed(payload)[:STORED_CHARS], (key, payload)
        assert row["status"] == "in_progress"
    figures("injection", payloads=len(PAYLOADS), sqlish=len(SQLISH))


@pytest.fixture(scope="module")
def exports(inventory) -> dict[str, Path]:
    out = {}
    for fmt in ("csv", "json", "xlsx", "html"):
        out[fmt] = inventory["work"] / f"findings.{fmt}"
        run("export", "--format", fmt, "-o", str(out[fmt]), "--quiet", "--db", inventory["url"])
    return out


def test_csv_cells_never_evaluate(exports, figures) -> None:
    with exports["csv"].open(newline="", encoding="utf-8-sig") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not [c for c in cells if is_formula_like(c)]
    neutralised = [p for p in PAYLOADS if is_formula_like(p)]
    for payload in neutralised:
        assert "'" + _stored(payload) in cells, payload
    figures("injection", csv_formula_payloads_neutralised=len(neutralised))


def test_xlsx_has_no_formulas_or_links(exports) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(exports["xlsx"])
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for c in row:
                assert c.data_type != "f" and c.hyperlink is None, (sheet.title, c.coordinate, c.value)
                if isinstance(c.value, str) and is_formula_like(c.value):
                    # a text cell is never evaluated; quotePrefix keeps it text when edited later
                    assert c.data_type == "s" and c.quotePrefix, (c.coordinate, c.value)


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.handlers: list[tuple[str, str]] = []
        self.script_text: list[str] = []
        self.links: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name))
            if name in ("href", "src", "action") and value:
                self.links.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def test_html_never_executes_payloads(exports) -> None:
    page = exports["html"].read_text(encoding="utf-8")
    scan = _Scan()
    scan.feed(page)
    assert not scan.handlers                                   # no onerror=, onload=
    assert not [u for u in scan.links if u.lower().lstrip().startswith(("javascript:", "http"))]
    assert "alert(1)" not in "".join(scan.script_text)         # only the report's own script runs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page      # shown, escaped
    assert "default-src &#39;none&#39;" in page                        # and a CSP that would stop a slip


def test_json_returns_payloads_verbatim(exports) -> None:
    doc = json.loads(exports["json"].read_text(encoding="utf-8"))
    text = json.dumps(doc, ensure_ascii=False)
    for payload in PAYLOADS:
        assert json.dumps(_stored(payload), ensure_ascii=False)[1:-1] in text, payload


@pytest.mark.parametrize("command", [("findings",), ("assets",), ("history", "c0:56:e3:00:01:0e"),
                                     ("remediate", "c0:56:e3:00:01:0e", "--status", "in_progress",
                                      "--note=\x1b]0;pwned\x07\x1b[2J")])
def test_terminal_listings_carry_no_escape_sequences(inventory, command) -> None:
    proc = run(*command, "--db", inventory["url"], check=False)
    assert proc.returncode in (0, 1), proc.stderr
    for ch in ("\x1b", "\x07", "\x00", "\u202e"):
        assert ch not in proc.stdout and ch not in proc.stderr, (command, repr(ch))

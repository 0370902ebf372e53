"""XLSX export read back with openpyxl and as raw XML: no formulas, no links, text kept."""

from __future__ import annotations

import io
import re
import zipfile

import openpyxl

from camaudit.report import COLUMNS, ReportMeta
from camaudit.report.base import BY_POLICY
from camaudit.report.sanitize import is_formula_like, xml_safe
from camaudit.report.xlsx_export import EXCEL_CELL_LIMIT, XlsxExporter


def ooxml_unescape(text: str) -> str:
    """Undo the `_xHHHH_` escape OOXML uses for CR and controls (Excel does; openpyxl does not)."""
    return re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), text)


def export(rows, meta=None) -> bytes:
    buffer = io.BytesIO()
    XlsxExporter().write(rows, meta or ReportMeta(layout=BY_POLICY, filters={"status": ["open"], "site": None}), buffer)
    return buffer.getvalue()


def findings_sheet(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data))["Findings"]


def test_one_row_per_finding_numbers_stay_numbers(rows):
    sheet = findings_sheet(export(rows))
    header = [c.value for c in sheet[1]]
    assert header == [c.header for c in COLUMNS]
    assert sheet.max_row == len(rows) + 1
    conf = sheet.cell(row=2, column=header.index("Confidence") + 1)
    assert conf.value == 0.97 and conf.data_type == "n"
    assert sheet.cell(row=2, column=header.index("IP") + 1).value == "198.18.0.111"


def test_payloads_are_string_cells_with_quote_prefix(hostile, payloads):
    sheet = findings_sheet(export(hostile))
    header = [c.value for c in sheet[1]]
    model = header.index("Model") + 1
    for r, payload in enumerate(payloads, start=2):
        cell = sheet.cell(row=r, column=model)
        assert cell.data_type == "s", (payload, cell.data_type)
        assert ooxml_unescape(cell.value) == xml_safe(payload, EXCEL_CELL_LIMIT)  # unchanged but for XML-illegal controls
        # Editing a formula-like cell in a spreadsheet app must keep it text.
        assert cell.quotePrefix == is_formula_like(payload)
        assert cell.number_format == "@"
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type in ("s", "n"), (cell.coordinate, cell.value)


def test_workbook_xml_holds_no_formula_or_hyperlink(hostile):
    with zipfile.ZipFile(io.BytesIO(export(hostile))) as archive:
        names = archive.namelist()
        sheets = [archive.read(n) for n in names if n.startswith("xl/worksheets/sheet")]
    assert sheets
    for xml in sheets:
        assert b"<f>" not in xml and b"<f " not in xml
        assert b"<hyperlink" not in xml
    assert not any("externalLink" in n or n.endswith(".rels") and "worksheets/_rels" in n for n in names)


def test_control_characters_and_huge_strings_do_not_drop_the_row(row_factory):
    rows = [row_factory(1, model="A\x00B\x1bC\x07", firmware="x" * 40_000)]
    sheet = findings_sheet(export(rows))
    header = [c.value for c in sheet[1]]
    assert sheet.max_row == 2
    assert sheet.cell(row=2, column=header.index("Model") + 1).value == "A\ufffdB\ufffdC\ufffd"
    assert len(sheet.cell(row=2, column=header.index("Firmware") + 1).value) == EXCEL_CELL_LIMIT


def test_export_info_sheet_names_the_filters():
    info = openpyxl.load_workbook(io.BytesIO(export([])))["Export info"]
    values = {row[0].value: row[1].value for row in info.iter_rows()}
    assert values["Filter: status"] == "open"
    assert values["Filter: site"] == "(any)"

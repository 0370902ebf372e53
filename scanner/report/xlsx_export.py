"""XLSX export: a devices (or findings, by policy) sheet plus an export-info sheet, injection-safe by construction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import xlsxwriter

from camaudit.report.base import BY_POLICY, ReportMeta, Rows, cell, filter_text
from camaudit.report.sanitize import is_formula_like, xml_safe

EXCEL_CELL_LIMIT = 32_767
_WIDTHS = {"evidence_summary": 60, "policy_citation": 40, "policy_title": 30, "note": 30,
           "policies": 40, "status_detail": 24}


class XlsxExporter:
    """Every device string is written as a string cell, never parsed.

    XlsxWriter runs with formula, URL and number conversion off, so `=cmd|...` is stored as
    text. Cells that *look* like formulas also get Excel's quote-prefix style (the
    stored form of typing a leading `'`), so editing the cell later in Excel or LibreOffice
    keeps it text instead of evaluating it; the value itself stays exactly what the device sent.
    """

    name = "xlsx"
    suffix = ".xlsx"

    def write(self, rows: Rows, meta: ReportMeta, stream: BinaryIO) -> None:
        import xlsxwriter  # imported when a workbook is written: start-up stays short

        # constant_memory: each row goes to a temp file once the next begins, strings inline,
        # instead of the whole sheet and a shared-string table held until close
        workbook = xlsxwriter.Workbook(stream, {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        })
        formats = _Formats(workbook)
        sheet = workbook.add_worksheet("Findings" if meta.layout == BY_POLICY else "Devices")
        for col, column in enumerate(meta.columns):
            sheet.write_string(0, col, column.header, formats.header)
            sheet.set_column(col, col, _WIDTHS.get(column.key, 16))
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(len(rows), 1), len(meta.columns) - 1)
        for r, row in enumerate(rows, start=1):
            for col, column in enumerate(meta.columns):
                _write_cell(sheet, r, col, cell(row, column.key), formats)
        _write_info(workbook.add_worksheet("Export info"), meta, formats)
        workbook.close()


class _Formats:
    """The workbook's cell formats; text cells are typed Text (`@`) so edits stay text."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self.header = workbook.add_format({"bold": True, "num_format": "@"})
        self.text = workbook.add_format({"num_format": "@"})
        self.inert = workbook.add_format({"num_format": "@", "quote_prefix": True})


def _write_cell(sheet: Any, r: int, col: int, value: Any, formats: _Formats) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        sheet.write_number(r, col, value)
        return
    text = xml_safe(str(value), EXCEL_CELL_LIMIT)
    sheet.write_string(r, col, text, formats.inert if is_formula_like(text) else formats.text)


def _write_info(sheet: Any, meta: ReportMeta, formats: _Formats) -> None:
    """When and how the export was made, so a shared spreadsheet says what it is."""
    info = [("Title", meta.title), ("Generated at", meta.generated_at.isoformat()),
            ("camaudit version", meta.version)]
    info += [(f"Filter: {key}", filter_text(value) or "(any)") for key, value in meta.filters.items()]
    sheet.set_column(0, 1, 28)
    for r, (label, value) in enumerate(info):
        sheet.write_string(r, 0, label, formats.header)
        _write_cell(sheet, r, 1, value, formats)


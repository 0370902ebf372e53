"""CSV export: one row per flagged device (or per finding, by policy), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO

from camaudit.report.base import ReportMeta, Rows, cell
from camaudit.report.sanitize import neutralize_formula


class CsvExporter:
    """RFC 4180 CSV, UTF-8 with a byte-order mark so Excel reads non-ASCII names correctly.

    Every text cell passes through `neutralize_formula`: a model name such as
    `=cmd|' /C calc'!A0` arrives as the text `'=cmd|' /C calc'!A0`, not as a DDE call.
    """

    name = "csv"
    suffix = ".csv"

    def write(self, rows: Rows, meta: ReportMeta, stream: BinaryIO) -> None:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        try:
            writer = csv.writer(text, quoting=csv.QUOTE_MINIMAL)
            writer.writerow(column.header for column in meta.columns)
            for row in rows:
                writer.writerow(csv_value(cell(row, column.key)) for column in meta.columns)
            text.flush()
        finally:
            text.detach()  # the caller owns and closes the binary stream


def csv_value(value: Any) -> Any:
    """Numbers stay numbers; every string is neutralised against formula evaluation."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    return neutralize_formula(str(value))

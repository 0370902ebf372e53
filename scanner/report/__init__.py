"""Exports and reports: one module per format behind the `Exporter` interface.

`EXPORTERS` is the one registry: a new format is a module with a class that has `name`,
`suffix` and `write(rows, meta, stream)`, plus one entry here. The config's `[report]` keys
are made from it, in this order (the order `camaudit config check` lists them).
"""

from __future__ import annotations

from camaudit.report.base import COLUMNS, Exporter, ReportMeta, Row, Rows
from camaudit.report.csv_export import CsvExporter
from camaudit.report.html import HtmlExporter
from camaudit.report.json_export import JsonExporter
from camaudit.report.xlsx_export import XlsxExporter

EXPORTERS: dict[str, Exporter] = {
    exporter.name: exporter
    for exporter in (HtmlExporter(), CsvExporter(), JsonExporter(), XlsxExporter())
}

__all__ = ["COLUMNS", "EXPORTERS", "Exporter", "ReportMeta", "Row", "Rows"]

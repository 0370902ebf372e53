"""Exports and reports: one module per format behind the `Exporter` interface.

`EXPORTERS` is the one registry: a new format is a module with a class that has `name`,
`suffix` and `write(rows, meta, stream)`, plus one entry in `_FORMATS`. The config's `[report]`
keys are made from it, in this order (the order `camaudit config check` lists them).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from camaudit.report.base import COLUMNS, Exporter, ReportMeta, Row, Rows

# format name → "module:class" in this package. A format's module (jinja2 for HTML, xlsxwriter
# for XLSX) is imported the first time that exporter is looked up, so reading the config,
# which only needs the names, costs no import of any of them.
_FORMATS = {
    "html": "html:HtmlExporter",
    "csv": "csv_export:CsvExporter",
    "json": "json_export:JsonExporter",
    "xlsx": "xlsx_export:XlsxExporter",
}


class _Exporters(Mapping[str, Exporter]):
    """The registry: names without imports, an exporter made on first look-up."""

    def __init__(self, formats: Mapping[str, str]) -> None:
        self._formats = dict(formats)
        self._made: dict[str, Exporter] = {}

    def __getitem__(self, name: str) -> Exporter:
        if name not in self._made:
            module, cls = self._formats[name].split(":")
            self._made[name] = getattr(importlib.import_module(f"camaudit.report.{module}"), cls)()
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._formats)

    def __len__(self) -> int:
        return len(self._formats)


EXPORTERS: Mapping[str, Exporter] = _Exporters(_FORMATS)

__all__ = ["COLUMNS", "EXPORTERS", "Exporter", "ReportMeta", "Row", "Rows"]

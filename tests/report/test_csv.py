"""CSV export read back with the csv module: every payload comes out as inert text."""

from __future__ import annotations

import csv
import io

from camaudit.report import COLUMNS, ReportMeta
from camaudit.report.base import BY_POLICY
from camaudit.report.csv_export import CsvExporter
from camaudit.report.sanitize import is_formula_like


def export(rows, meta=None) -> list[dict[str, str]]:
    buffer = io.BytesIO()
    CsvExporter().write(rows, meta or ReportMeta(layout=BY_POLICY), buffer)   # finding rows
    raw = buffer.getvalue()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_one_row_per_finding_with_every_column(rows):
    out = export(rows)
    assert len(out) == len(rows)
    assert list(out[0]) == [c.header for c in COLUMNS]
    first = out[0]
    assert first["IP"] == "198.18.0.111"
    assert first["Citation"] == "Pub. L. 115-232 §889(a)(1)(A)"
    assert first["Confidence"] == "0.97"
    assert first["Days open"] == "27"
    assert first["Owner"] == ""  # None is an empty cell, not "None"


def test_payloads_come_out_as_text_no_cell_is_a_formula(hostile, payloads):
    out = export(hostile)
    for row, payload in zip(out, payloads):
        for header in ("Vendor", "Model", "Evidence", "Site", "Note"):
            value = row[header]
            assert not is_formula_like(value), (header, value)
            if is_formula_like(payload):
                assert value == "'" + payload  # the device string survives, one quote in front
            else:
                assert value == payload


def test_every_cell_of_the_hostile_export_is_inert(hostile):
    for row in export(hostile):
        for header, value in row.items():
            assert not is_formula_like(value), (header, value)


def test_empty_export_has_the_header_only():
    assert export([]) == []

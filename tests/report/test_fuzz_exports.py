"""Arbitrary device text through every exporter: readable back, never active."""

from __future__ import annotations

import csv
import io
import os
from html.parser import HTMLParser

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from camaudit.report import EXPORTERS, ReportMeta
from camaudit.report.base import BY_POLICY
from camaudit.report.sanitize import is_formula_like

EXAMPLES = int(os.environ.get("CAMAUDIT_FUZZ_EXAMPLES", "60"))
DEVICE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
pytestmark = pytest.mark.fuzz
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def write(fmt: str, rows) -> bytes:
    buffer = io.BytesIO()
    EXPORTERS[fmt].write(rows, ReportMeta(layout=BY_POLICY), buffer)   # finding rows
    return buffer.getvalue()


@fuzz
@given(DEVICE_TEXT)
def test_csv_reads_back_as_the_text_or_the_quoted_text(row_factory, text):
    rows = [row_factory(1, model=text, firmware=text)]
    out = list(csv.reader(io.StringIO(write("csv", rows).decode("utf-8-sig"), newline="")))
    model = out[1][out[0].index("Model")]
    assert model == (("'" + text) if is_formula_like(text) else text)


@fuzz
@given(DEVICE_TEXT)
def test_xlsx_cell_is_always_a_string(row_factory, text):
    sheet = openpyxl.load_workbook(io.BytesIO(write("xlsx", [row_factory(1, model=text)])))["Findings"]
    for cell in sheet[2]:
        assert cell.data_type in ("s", "n")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


@fuzz
@given(DEVICE_TEXT)
def test_html_structure_does_not_depend_on_device_text(row_factory, text):
    def tags(model: str) -> list[str]:
        parser = _Tags()
        parser.feed(write("html", [row_factory(1, model=model, vendor=model, site=model)]).decode("utf-8"))
        return parser.tags

    assert tags(text) == tags("plain")

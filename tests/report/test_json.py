"""JSON export: the published schema (docs/exports.md), exactly."""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest

from camaudit.report import ReportMeta
from camaudit.report.base import BY_POLICY
from camaudit.report.json_export import (EVIDENCE_KEYS, FINDING_KEYS, SCHEMA, SCHEMA_VERSION, JsonExporter,
                                        finding)

# The published key set. Changing it is a schema change: bump SCHEMA_VERSION and document it.
PUBLISHED_FINDING_KEYS = [
    "finding_id", "asset_id", "site", "ip", "ipv6", "mac", "vendor", "brand", "model", "firmware", "serial",
    "device_type", "policy_id", "policy_title", "policy_citation", "confidence", "tier", "evidence_summary",
    "status", "owner", "due", "note", "first_seen", "last_seen", "days_open", "not_seen_since",
    "last_scan_id", "evidence",
]


def export(rows, meta) -> dict:
    buffer = io.BytesIO()
    JsonExporter().write(rows, meta, buffer)
    return json.loads(buffer.getvalue().decode("utf-8"))


def test_document_header_and_findings(rows, generated_at):
    since = datetime(2026, 11, 1)
    doc = export(rows, ReportMeta(layout=BY_POLICY, generated_at=generated_at, filters={"status": ["open"], "since": since}))
    assert doc["schema"] == SCHEMA == "camaudit.findings"
    assert doc["schema_version"] == SCHEMA_VERSION == 4 and doc["layout"] == "by_policy"
    assert doc["generated_at"] == "2026-11-28T05:00:00+00:00"
    assert doc["filters"] == {"status": ["open"], "since": "2026-11-01T00:00:00"}
    assert doc["count"] == len(rows) == len(doc["findings"])
    assert list(doc["findings"][0]) == PUBLISHED_FINDING_KEYS == list(FINDING_KEYS)
    assert list(doc["findings"][0]["evidence"][0]) == list(EVIDENCE_KEYS)
    assert doc["findings"][0]["confidence"] == 0.97


def test_unknown_store_keys_are_not_published_and_missing_ones_are_null(row_factory, generated_at):
    row = row_factory(1, internal_secret="x")
    del row["owner"]
    del row["evidence"]
    finding = export([row], ReportMeta(layout=BY_POLICY, generated_at=generated_at))["findings"][0]
    assert "internal_secret" not in finding
    assert finding["owner"] is None
    assert finding["evidence"] == []


def test_payloads_round_trip_exactly(hostile, payloads, generated_at):
    findings = export(hostile, ReportMeta(layout=BY_POLICY, generated_at=generated_at))["findings"]
    assert [f["model"] for f in findings] == list(payloads)  # JSON is data: no neutralising


def whole_document(rows, meta) -> bytes:
    """The document as one json.dumps call: the published bytes the streamed export must equal."""
    doc = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "layout": "by_policy",
           "generated_at": meta.generated_at.isoformat(), "camaudit_version": meta.version,
           "filters": dict(meta.filters), "count": len(rows), "findings": [finding(row) for row in rows]}
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def test_streamed_document_is_byte_for_byte_the_whole_document(rows, hostile, generated_at):
    meta = ReportMeta(layout=BY_POLICY, generated_at=generated_at, filters={"status": ["open"], "site": "hq"})
    odd = [dict(hostile[0], model="line\u2028sep\x85nel\nnewline", evidence=[])]  # splitlines() would cut these
    for batch in (rows, hostile, odd, []):
        buffer = io.BytesIO()
        JsonExporter().write(batch, meta, buffer)
        assert buffer.getvalue() == whole_document(batch, meta)


class Stream:
    """Rows as the store streams them: a length up front, one pass."""

    def __init__(self, rows, count):
        self.rows, self.count = rows, count

    def __len__(self):
        return self.count

    def __iter__(self):
        return iter(self.rows)


def test_rows_read_once_from_a_stream(rows, generated_at):
    meta = ReportMeta(layout=BY_POLICY, generated_at=generated_at)
    buffer = io.BytesIO()
    JsonExporter().write(Stream(rows, len(rows)), meta, buffer)
    assert buffer.getvalue() == whole_document(rows, meta)


def test_a_count_the_rows_do_not_match_fails_the_export(rows, generated_at):
    with pytest.raises(RuntimeError, match="announced"):
        JsonExporter().write(Stream(rows, len(rows) + 1), ReportMeta(layout=BY_POLICY, generated_at=generated_at), io.BytesIO())

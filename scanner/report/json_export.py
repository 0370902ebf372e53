"""JSON export: the documented, versioned machine-readable form (docs/exports.md).

The key set is fixed here rather than copied from whatever the store returns, so a new
store column cannot change the published schema by accident; it needs a schema change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, BinaryIO

from camaudit.report.base import BY_POLICY, COLUMNS, DEVICE_COLUMNS, ReportMeta, Row, Rows

SCHEMA = "camaudit.findings"
# 2: `tier` on findings and evidence items; 3: `layout`, and by default a `devices` list
# (one object per flagged device, its per-policy findings nested) instead of `findings`;
# 4: `ipv6` (a list) beside `ip`, which holds only IPv4
SCHEMA_VERSION = 4
FINDING_KEYS: tuple[str, ...] = tuple(column.key for column in COLUMNS) + ("evidence",)
DEVICE_KEYS: tuple[str, ...] = tuple(column.key for column in DEVICE_COLUMNS) + ("evidence", "findings")
DEVICE_FINDING_KEYS: tuple[str, ...] = ("finding_id", "policy_id", "policy_title", "policy_citation",
                                        "status", "owner", "due", "note", "first_seen", "last_seen",
                                        "days_open", "not_seen_since", "last_scan_id", "history")
HISTORY_KEYS: tuple[str, ...] = ("event_id", "at", "actor", "from", "to", "note", "scan_id")
EVIDENCE_KEYS: tuple[str, ...] = ("source", "port", "fingerprint", "field", "value", "weight", "vendor", "tier")


class JsonExporter:
    """One JSON document: a header (schema, version, layout, time, filters) and the devices
    list (or, by policy, the findings list).

    Written finding by finding, byte for byte what `json.dumps(document, indent=2)` of the
    whole document gives, so an export's memory does not grow with the findings (10,000
    devices' document built at once peaked above 1 GB).
    """

    name = "json"
    suffix = ".json"

    def write(self, rows: Rows, meta: ReportMeta, stream: BinaryIO) -> None:
        head = _dumps(header(meta, len(rows)))
        by_policy = meta.layout == BY_POLICY
        # the header object without its closing "\n}", continued by the row list
        stream.write(f'{head[:-2]},\n  "{"findings" if by_policy else "devices"}": ['.encode("utf-8"))
        written = 0
        for row in rows:
            nested = _dumps(finding(row) if by_policy else device(row)).replace("\n", "\n" + _FINDING_INDENT)
            stream.write(f'{"," if written else ""}\n{_FINDING_INDENT}{nested}'.encode("utf-8"))
            written += 1
        if written != len(rows):
            raise RuntimeError(f"the JSON export announced {len(rows)} rows but got {written}")
        stream.write(b"\n  ]\n}\n" if written else b"]\n}\n")


_FINDING_INDENT = " " * 4   # a row sits two levels deep: document → devices/findings list → row


def header(meta: ReportMeta, count: int) -> dict[str, Any]:
    """The document's keys before `findings`, in the shape docs/exports.md publishes."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "layout": "by_policy" if meta.layout == BY_POLICY else "by_device",
        "generated_at": meta.generated_at.isoformat(),
        "camaudit_version": meta.version,
        "filters": dict(meta.filters),
        "count": count,
    }


def finding(row: Row) -> dict[str, Any]:
    """One finding with exactly the published keys; missing values are null."""
    out = {key: row.get(key) for key in FINDING_KEYS}
    out["ipv6"] = list(row.get("ipv6") or ())
    out["evidence"] = [_evidence(item) for item in row.get("evidence") or ()]
    return out


def device(row: Row) -> dict[str, Any]:
    """One device with exactly the published keys, each of its findings with its history."""
    out = {key: row.get(key) for key in DEVICE_KEYS}
    out["ipv6"] = list(row.get("ipv6") or ())
    out["policies"] = list(row.get("policies") or ())
    out["finding_ids"] = list(row.get("finding_ids") or ())
    out["evidence"] = [_evidence(item) for item in row.get("evidence") or ()]
    out["findings"] = [{**{key: f.get(key) for key in DEVICE_FINDING_KEYS},
                        "history": [{key: e.get(key) for key in HISTORY_KEYS} for e in f.get("history") or ()]}
                       for f in row.get("findings") or ()]
    return out


def _evidence(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: item.get(key) for key in EVIDENCE_KEYS}


def _dumps(value: Any) -> str:
    """JSON text as the published document is indented; strings never hold a raw newline
    (JSON escapes it), so nesting a dumped object is re-indenting after each "\\n"."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    """Dates in filters or rows become ISO 8601 text; anything else is a programming error."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__} as JSON")

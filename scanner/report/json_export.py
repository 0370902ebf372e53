"""JSON export: the documented, versioned machine-readable form (docs/exports.md).

The key set is fixed here rather than copied from whatever the store returns, so a new
store column cannot change the published schema by accident; it needs a schema change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, BinaryIO

from scanner.report.base import COLUMNS, ReportMeta, Row

SCHEMA = "camaudit.findings"
SCHEMA_VERSION = 1
FINDING_KEYS: tuple[str, ...] = tuple(column.key for column in COLUMNS) + ("evidence",)
EVIDENCE_KEYS: tuple[str, ...] = ("source", "port", "fingerprint", "field", "value", "weight", "vendor")


class JsonExporter:
    """One JSON document: a header (schema, version, time, filters) and the findings list."""

    name = "json"
    suffix = ".json"

    def write(self, rows: Sequence[Row], meta: ReportMeta, stream: BinaryIO) -> None:
        stream.write(json.dumps(document(rows, meta), indent=2, ensure_ascii=False,
                                default=_json_default).encode("utf-8"))
        stream.write(b"\n")


def document(rows: Sequence[Row], meta: ReportMeta) -> dict[str, Any]:
    """The export as plain data, in the shape docs/exports.md publishes."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generated_at": meta.generated_at.isoformat(),
        "camaudit_version": meta.version,
        "filters": dict(meta.filters),
        "count": len(rows),
        "findings": [finding(row) for row in rows],
    }


def finding(row: Row) -> dict[str, Any]:
    """One finding with exactly the published keys; missing values are null."""
    out = {key: row.get(key) for key in FINDING_KEYS}
    out["evidence"] = [_evidence(item) for item in row.get("evidence") or ()]
    return out


def _evidence(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: item.get(key) for key in EVIDENCE_KEYS}


def _json_default(value: Any) -> Any:
    """Dates in filters or rows become ISO 8601 text; anything else is a programming error."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__} as JSON")

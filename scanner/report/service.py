"""Store → formatter → file: the one function the CLI, the scan command and the demo call.

The store is duck-typed (`FindingSource`) so the formatters stay independent of the
database layer; `camaudit.db.store.Store` satisfies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from camaudit.report import EXPORTERS
from camaudit.outfile import write_atomic
from camaudit.report.base import BY_DEVICE, BY_POLICY, ReportMeta, Rows


class FindingSource(Protocol):
    """What exports read from the inventory (camaudit.db.store.Store)."""

    def finding_stream(self, *, status: list[str] | None = None, site: str | None = None,
                       policy: str | None = None, vendor: str | None = None,
                       since: datetime | None = None,
                       tier: list[str] | None = None) -> AbstractContextManager[Rows]: ...

    def device_stream(self, *, status: list[str] | None = None, site: str | None = None,
                      policy: str | None = None, vendor: str | None = None,
                      since: datetime | None = None,
                      tier: list[str] | None = None) -> AbstractContextManager[Rows]: ...

    def scan_series(self, site: str | None = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Filters:
    """Which findings an export holds; None (or an empty status list) means "any"."""

    status: tuple[str, ...] = ()
    site: str | None = None
    policy: str | None = None
    vendor: str | None = None
    since: datetime | None = None
    tier: tuple[str, ...] = ()     # confirmed | probable | possible (camaudit.tiers)

    def query(self) -> dict[str, Any]:
        """Keyword arguments for `finding_stream` / `finding_rows`."""
        return {**asdict(self), "status": list(self.status) or None, "tier": list(self.tier) or None}

    def describe(self) -> Mapping[str, Any]:
        """The filters as the export records them (JSON header, XLSX info sheet, HTML)."""
        return {**self.query(), "since": self.since.isoformat() if self.since else None}


@dataclass(frozen=True)
class ExportResult:
    rows: int
    path: Path | None


def export_findings(source: FindingSource, fmt: str, path: Path | None, *,
                    filters: Filters = Filters(), stream: BinaryIO | None = None,
                    title: str = "camaudit findings", by_policy: bool = False) -> ExportResult:
    """Write the flagged devices (or, `by_policy`, the findings) matching `filters` as `fmt`
    to `path` (atomically) or to `stream`.

    Raises KeyError for an unknown format, the store's errors for a database problem and
    OSError when the file cannot be written (any previous file at `path` is then intact).
    """
    exporter = EXPORTERS[fmt]
    if path is None and stream is None:
        raise ValueError("export_findings needs a path or a stream")
    meta = ReportMeta(filters=filters.describe(), series=source.scan_series(site=filters.site),
                      title=title, layout=BY_POLICY if by_policy else BY_DEVICE)
    # rows are fetched while the exporter writes them: an export never holds every finding
    stream_rows = source.finding_stream if by_policy else source.device_stream
    with stream_rows(**filters.query()) as rows:
        if path is None:
            exporter.write(rows, meta, stream)
            stream.flush()
        else:
            write_atomic(path, lambda out: exporter.write(rows, meta, out))
        return ExportResult(rows=len(rows), path=path)


def format_for_path(path: Path) -> str | None:
    """The format a file name asks for by its suffix (`report.xlsx` → "xlsx"), if any."""
    suffix = path.suffix.lower()
    if suffix == ".htm":
        return "html"
    return next((name for name, exporter in EXPORTERS.items() if exporter.suffix == suffix), None)

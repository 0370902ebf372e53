"""The inventory store: persists scans and tracks each flagged device until it is gone.

`Store` is the one entry point callers use (scan, CLI, reports, demo, bench); it keeps the
public methods below and delegates each to the module that does that one job:

    db/engine.py     URL → engine, SQLite file/WAL/refusal checks, transactions
    db/device.py     what the store reads of an identification, cleaned (`clean`)
    db/identity.py   which stored asset a device is (pure rules)
    db/lifecycle.py  which status moves are allowed, manual and automatic (pure)
    db/record.py     writing a scan: observations, assets, sightings, misses
    db/findings.py   writing findings and their event trail
    db/rematch.py    re-identifying stored devices after a fingerprint update
    db/queries.py    read models for the CLI and reports
    db/register.py   the agency's asset register: load, look up, gaps
    db/exposure.py   what the removal priority needs of each asset (facts, open ports)

API for the scan command (call in this order; every call commits its own transactions):

    store = Store(url)          # None → SQLite file in the user data dir; "sqlite:///path";
                                # "postgresql+psycopg://user@host/db". Creates/migrates schema.
    scan_id = store.begin_scan(targets, site, policies, tool_version, fingerprint_version)
    store.add_observations(scan_id, observations)       # any number of times (batched)
    summary = store.record_identifications(scan_id, identifications, covered)
    store.finish_scan(scan_id, status="complete")       # or "interrupted" / "failed"
    store.open_flagged_count(site=None) -> int          # exit code 1 when > 0

`policies` are policy ids or objects with `id`, `title`, `citation` (camaudit.policy); `covered`
is the list of target CIDRs/IPs the scan actually probed: an asset whose address lies in it and
that the scan did not see counts one "miss" when the scan finishes complete. Call
`record_identifications` even when nothing was found (`[]`): that is how a scan of an emptied
network tells the store what it covered.

Queries for the CLI and reports: `assets`, `finding_rows`, `finding_stream`, `scan_series`,
`summary`, `history`, `diff`, `scans`, `events`, `resolve`; changes: `remediate`,
`expire_risk_acceptances`, `rematch`.

Asset register and priority: `load_register`, `register_entry` (a device's location and
owner: MAC wins over IP), `register_entries`, `register_gaps`, `device_facts` (feed each to
`camaudit.priority.assess`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from camaudit.advisories import Advisory, load_advisories
from camaudit.db import exposure, findings, queries, record
from camaudit.db import register as asset_register
from camaudit.db import rematch as rematching
from camaudit.db.device import IdentificationLike
from camaudit.db.devices_view import device_stream as stream_devices
from camaudit.db.engine import Database, default_url, utcnow
from camaudit.db.errors import StoreError
from camaudit.db.lifecycle import Change
from camaudit.db.queries import FindingStream
from camaudit.db.record import BATCH, DeviceFailure, ScanResultSummary
from camaudit.db.rematch import Identify, RematchSummary
from camaudit.observation import Observation

DEFAULT_NOT_SEEN_AFTER = 2   # complete scans covering an address that must miss a device

__all__ = ["BATCH", "DEFAULT_NOT_SEEN_AFTER", "DeviceFailure", "FindingStream",
           "IdentificationLike", "RematchSummary", "ScanResultSummary", "Store", "StoreError",
           "default_url", "utcnow"]


class Store:
    """One inventory database (see the module docstring for the call order)."""

    def __init__(self, url: str | None = None, *, not_seen_after: int = DEFAULT_NOT_SEEN_AFTER,
                 clock: Callable[[], datetime] = utcnow, migrate_schema: bool = True) -> None:
        self.url = url or default_url()
        self.not_seen_after = not_seen_after
        self.clock = clock
        self.db = Database(self.url, clock)
        self.engine = self.db.engine
        if migrate_schema:
            self.upgrade()

    def upgrade(self) -> tuple[str | None, str | None]:
        """Create or migrate the schema (one transaction); returns (revision before, after)."""
        return self.db.upgrade()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return self.db.safe_url

    # ------------------------------------------------------------------ a scan

    def begin_scan(self, targets: list[str], site: str | None, policies: Sequence[Any],
                   tool_version: str | None, fingerprint_version: str | None) -> int:
        """Record a running scan; returns its id."""
        return record.begin_scan(self.db, targets, site, policies, tool_version, fingerprint_version)

    def set_source(self, scan_id: int, source: record.ScanSource) -> None:
        """Record where a running scan's observations came from (`camaudit ingest`)."""
        record.set_source(self.db, scan_id, source)

    def ingested_scan(self, sha256: str) -> int | None:
        """The complete scan already ingested from a file with this SHA-256, if any."""
        return record.ingested_scan(self.db, sha256)

    def add_observations(self, scan_id: int, observations: Iterable[Observation | dict[str, Any]]) -> int:
        """Store raw observations (for rematch and audit); returns how many were stored."""
        return record.add_observations(self.db, scan_id, observations)

    def record_identifications(self, scan_id: int, identifications: Iterable[IdentificationLike],
                               covered: Sequence[str] = ()) -> ScanResultSummary:
        """Create/update assets, sightings and findings for what this scan identified."""
        return record.record_identifications(self.db, scan_id, identifications, covered)

    def finish_scan(self, scan_id: int, status: str = "complete") -> None:
        """Close the scan; a complete one counts misses and marks findings "not seen since"."""
        record.finish_scan(self.db, scan_id, status, self.not_seen_after)

    def open_flagged_count(self, site: str | None = None) -> int:
        """Assets with an open or in-progress finding, `possible` ones aside (the scan's
        exit code is 1 when > 0)."""
        return queries.open_flagged_count(self.db, site)

    # ------------------------------------------------------------------ remediation

    def resolve(self, ref: str, site: str | None = None) -> list[int]:
        """Finding ids a user reference names: `F12`/`12` (finding), `A7` (asset), a MAC or an IP."""
        return queries.resolve(self.db, ref, site)

    def remediate(self, finding_ids: Sequence[int], change: Change) -> list[dict[str, Any]]:
        """Apply a manual status change to findings, all or none; returns the events written."""
        return findings.remediate(self.db, finding_ids, change)

    def expire_risk_acceptances(self) -> int:
        """Reopen risk acceptances whose expiry day has come; returns how many."""
        return findings.expire_risk_acceptances(self.db)

    def rematch(self, identify: Identify, fingerprint_version: str | None = None,
                policies: Sequence[Any] = ()) -> RematchSummary:
        """Re-identify every asset from the observations of its last sighting; update findings.

        `identify` is camaudit.identify bound to the current fingerprints and policies. A newly
        flagged asset opens findings; a finding its new identification no longer supports
        (open or in progress) becomes false_positive with an event saying why. `policies`
        (objects with id, title, citation) are the ones `identify` evaluates: they refresh the
        stored titles and citations, and only their findings can be cleared (a finding of a
        policy left out was not judged, so it stays as it is). Without `policies`, every
        finding is judged.
        """
        return rematching.rematch(self.db, identify, fingerprint_version, policies)

    # ------------------------------------------------------------------ queries

    def scans(self, site: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        return queries.scans(self.db, site, limit)

    def assets(self, *, site: str | None = None, vendor: str | None = None,
               flagged: bool | None = None) -> list[dict[str, Any]]:
        return queries.assets(self.db, site=site, vendor=vendor, flagged=flagged)

    def finding_rows(self, *, status: list[str] | None = None, site: str | None = None,
                     policy: str | None = None, vendor: str | None = None,
                     since: datetime | None = None,
                     tier: list[str] | None = None) -> list[dict[str, Any]]:
        """Flat rows for exports and `camaudit findings` (columns: docs/inventory.md)."""
        with self.finding_stream(status=status, site=site, policy=policy, vendor=vendor,
                                 since=since, tier=tier) as rows:
            return list(rows)

    @contextmanager
    def finding_stream(self, *, status: list[str] | None = None, site: str | None = None,
                       policy: str | None = None, vendor: str | None = None,
                       since: datetime | None = None,
                       tier: list[str] | None = None) -> Iterator[FindingStream]:
        """The rows of `finding_rows`, fetched while they are read, inside the `with` block
        (`queries.finding_stream`: a large export holds a batch of rows, not all)."""
        with queries.finding_stream(self.db, status=status, site=site, policy=policy,
                                    vendor=vendor, since=since, tier=tier) as rows:
            yield rows

    @contextmanager
    def device_stream(self, *, status: list[str] | None = None, site: str | None = None,
                      policy: str | None = None, vendor: str | None = None,
                      since: datetime | None = None, tier: list[str] | None = None,
                      advisories: Sequence[Advisory] | None = None) -> Iterator[FindingStream]:
        """The rows of `device_rows` (one per flagged device: the remediation list), in
        asset order, fetched while they are read (`devices_view.device_stream`); removal
        priority against `advisories` (default: the shipped table and the user's refresh)."""
        with stream_devices(self.db, status=status, site=site, policy=policy, vendor=vendor, since=since,
                            tier=tier, advisories=load_advisories() if advisories is None else advisories
                            ) as rows:
            yield rows

    def device_rows(self, *, status: list[str] | None = None, site: str | None = None,
                    policy: str | None = None, vendor: str | None = None,
                    since: datetime | None = None, tier: list[str] | None = None,
                    advisories: Sequence[Advisory] | None = None) -> list[dict[str, Any]]:
        """The remediation list: one row per device with its policies (docs/inventory.md),
        the device to remove first first (highest `priority_score`, then oldest asset)."""
        with self.device_stream(status=status, site=site, policy=policy, vendor=vendor,
                                since=since, tier=tier, advisories=advisories) as rows:
            return sorted(rows, key=lambda r: -r["priority_score"])

    def events(self, finding_id: int) -> list[dict[str, Any]]:
        return queries.events(self.db, finding_id)

    def history(self, ref: str, site: str | None = None) -> dict[str, Any]:
        """One asset: its record, every sighting (IP/firmware over time), findings and events."""
        return queries.history(self.db, ref, site)

    def diff(self, scan_a: int | None = None, scan_b: int | None = None,
             site: str | None = None) -> dict[str, Any]:
        """Assets new in B, gone since A, and changed (IP, firmware, vendor) between two scans;
        without ids, the last two complete scans (of `site`, when given)."""
        return queries.diff(self.db, scan_a, scan_b, site)

    def scan_series(self, site: str | None = None) -> list[dict[str, Any]]:
        """Finding counts by status as of the end of each finished scan (burn-down chart)."""
        return queries.scan_series(self.db, site)

    def summary(self) -> dict[str, Any]:
        """Finding counts by status, by vendor and by site, plus totals."""
        return queries.summary(self.db)

    # ------------------------------------------------------------------ register, priority

    def load_register(self, rows: Iterable[Any], source_file: str) -> tuple[int, int]:
        """Replace the asset register with `rows` (one transaction); returns (loaded, replaced)."""
        return asset_register.replace(self.db, rows, source_file)

    def register_entry(self, mac: str | None, ip: str | None) -> dict[str, Any] | None:
        """A device's register entry (asset_tag, location, owner, extra…): MAC wins over IP."""
        return asset_register.entry_for(self.db, mac, ip)

    def register_entries(self) -> list[dict[str, Any]]:
        return asset_register.entries(self.db)

    def register_gaps(self, flagged_vendor: asset_register.FlaggedVendor) -> dict[str, list[dict[str, Any]]]:
        """Flagged devices the register lacks; flagged-vendor entries the scans no longer see."""
        return asset_register.gaps(self.db, flagged_vendor)

    def device_facts(self, asset_ids: Sequence[int] | None = None) -> dict[int, Any]:
        """asset id → camaudit.priority.DeviceFacts (with the open ports of its last sighting)."""
        return exposure.device_facts(self.db, asset_ids)

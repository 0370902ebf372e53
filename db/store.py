"""The inventory store: persists scans and tracks each flagged device until it is gone.

API for the scan command (call in this order; every call commits its own transactions):

    store = Store(url)          # None → SQLite file in the user data dir; "sqlite:///path";
                                # "postgresql+psycopg://user@host/db". Creates/migrates schema.
    scan_id = store.begin_scan(targets, site, policies, tool_version, fingerprint_version)
    store.add_observations(scan_id, observations)       # any number of times (batched)
    summary = store.record_identifications(scan_id, identifications, covered)
    store.finish_scan(scan_id, status="complete")       # or "interrupted" / "failed"
    store.open_flagged_count(site=None) -> int          # exit code 1 when > 0

`policies` are policy ids or objects with `id`, `title`, `citation` (scanner.policy); `covered`
is the list of target CIDRs/IPs the scan actually probed: an asset whose address lies in it and
that the scan did not see counts one "miss" when the scan finishes complete. Call
`record_identifications` even when nothing was found (`[]`): that is how a scan of an emptied
network tells the store what it covered.

Queries for the CLI and reports: `assets`, `finding_rows`, `scan_series`, `summary`,
`history`, `diff`, `scans`; changes: `remediate`, `expire_risk_acceptances`, `rematch`.

Writes go in batches (`BATCH` rows per transaction, executemany inserts), so a 10,000-device
scan is stored quickly and a scan killed midway leaves earlier batches and scans intact.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import orjson
import platformdirs
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    create_engine,
    event,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, SQLAlchemyError

from db import migrate
from db.errors import CorruptDatabase, NoSuchFinding, StoreError, StoreUnavailable
from db.lifecycle import ACTIVE, WATCHED, Change, Status, TransitionError, check
from db.models import (
    Asset,
    Finding,
    FindingEvent,
    Policy,
    Scan,
    Sighting,
    StoredObservation,
    fit,
)
from scanner.observation import Observation, loads_json, normalize_mac
from scanner.redact import mask_secrets

BATCH = 500
MAX_ROW_ID = 2**31 - 1       # ids are INTEGER columns: 32 bits on PostgreSQL
DEFAULT_NOT_SEEN_AFTER = 2   # complete scans covering an address that must miss a device
SCAN_ACTOR = "camaudit scan"
REMATCH_ACTOR = "camaudit rematch"
EXPIRY_ACTOR = "camaudit"

T_SCAN, T_ASSET, T_SIGHT = Scan.__table__, Asset.__table__, Sighting.__table__
T_OBS, T_POLICY = StoredObservation.__table__, Policy.__table__
T_FIND, T_EVENT = Finding.__table__, FindingEvent.__table__
# what matching a device to its asset reads: not the evidence JSON, which a scan only overwrites
_MATCH_COLUMNS = [c for c in T_ASSET.c if c.name != "evidence"]
# what deciding a finding's next state reads (not its owner, note or dates of record)
_FINDING_STATE = (T_FIND.c.id, T_FIND.c.asset_id, T_FIND.c.policy_id, T_FIND.c.status,
                  T_FIND.c.suppressed_fingerprints, T_FIND.c.status_changed_at,
                  T_FIND.c.last_scan_id, T_FIND.c.not_seen_since)
# what rematch rewrites of an asset (its evidence too; never its addresses or serial)
_REMATCHED = ("vendor", "brand", "model", "firmware", "device_type", "flagged", "confidence")


class IdentificationLike(Protocol):
    """What the store reads of scanner.identify.Identification (duck-typed)."""

    ip: str | None
    mac: str | None
    vendor: str | None
    brand: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    device_type: str | None
    flagged: bool
    policies: list[str]
    confidence: float
    evidence: list[dict[str, Any]]


@dataclass(slots=True, frozen=True)
class DeviceFailure:
    """A device the database refused to store: the rest of its scan was stored without it."""

    ip: str | None
    mac: str | None
    reason: str

    def __str__(self) -> str:
        names = " ".join(x for x in (self.ip, self.mac) if x) or "(no address)"
        return f"device {names} not stored in the inventory: {self.reason}"


@dataclass(slots=True)
class ScanResultSummary:
    """What one `record_identifications` call changed (summed over its batches)."""

    devices: int = 0
    new_assets: int = 0
    known_assets: int = 0
    readdressed: int = 0          # known assets seen at a new IP (DHCP): no new asset made
    flagged_assets: int = 0
    findings_opened: int = 0
    findings_reopened: int = 0
    failures: list[DeviceFailure] = field(default_factory=list)

    def add(self, other: ScanResultSummary) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class FindingStream:
    """Finding rows as one read fetches them (`Store.finding_stream`): `len()` is known before
    the rows, which can be iterated once."""

    def __init__(self, count: int, rows: Iterator[dict[str, Any]]) -> None:
        self.count = count
        self._rows: Iterator[dict[str, Any]] | None = rows

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._rows is None:
            raise StoreError("finding rows of a stream can be read once; keep them (list) to reread")
        rows, self._rows = self._rows, None
        return rows


@dataclass(slots=True)
class RematchSummary:
    assets: int = 0
    changed_assets: int = 0
    findings_opened: int = 0
    findings_reopened: int = 0
    findings_cleared: int = 0


def default_url() -> str:
    """The default inventory: a SQLite file in the user's data directory."""
    return f"sqlite:///{Path(platformdirs.user_data_dir('camaudit')) / 'inventory.sqlite3'}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _chunks(seq: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


class Store:
    """One inventory database (see the module docstring for the call order)."""

    def __init__(self, url: str | None = None, *, not_seen_after: int = DEFAULT_NOT_SEEN_AFTER,
                 clock: Callable[[], datetime] = utcnow, migrate_schema: bool = True) -> None:
        self.url = url or default_url()
        self.not_seen_after = not_seen_after
        self.clock = clock
        self.engine = _make_engine(self.url)
        if migrate_schema:
            self.upgrade()

    def upgrade(self) -> tuple[str | None, str | None]:
        """Create or migrate the schema (one transaction); returns (revision before, after)."""
        try:
            return migrate.upgrade(self.engine)
        except OperationalError as exc:
            raise StoreUnavailable(f"cannot open the inventory {self.safe_url}: {mask_secrets(str(exc.orig))}; "
                             "check the --db URL, that the server runs and the file is writable") from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return mask_secrets(self.url)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (SQLite: BEGIN IMMEDIATE, so writers queue on the busy timeout)."""
        with self.engine.connect().execution_options(camaudit_write=True) as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read transaction whose statements all see one state of the database: SQLite's
        read transactions do; PostgreSQL's default (READ COMMITTED) does not, per statement."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def _insert(self, table: Any) -> Any:
        """An INSERT that supports ON CONFLICT on both dialects we ship for."""
        if self.engine.dialect.name == "postgresql":
            return pg_dialect.insert(table)
        if self.engine.dialect.name == "sqlite":
            return sqlite_dialect.insert(table)
        raise StoreError(f"unsupported database {self.engine.dialect.name}; use SQLite or PostgreSQL")

    # ------------------------------------------------------------------ scan lifecycle

    def begin_scan(self, targets: list[str], site: str | None, policies: Sequence[Any],
                   tool_version: str | None, fingerprint_version: str | None) -> int:
        """Record a running scan; returns its id."""
        policies = list(policies)
        policy_ids = [p if isinstance(p, str) else p.id for p in policies]
        with self._write() as conn:
            self._upsert_policies(conn, policies)
            return conn.execute(insert(T_SCAN).values(
                site=fit(T_SCAN.c.site, site, typed=True), targets=list(targets), covered=[],
                policies=policy_ids, started_at=self.clock(), status="running",
                tool_version=fit(T_SCAN.c.tool_version, tool_version),
                fingerprint_version=fit(T_SCAN.c.fingerprint_version, fingerprint_version),
                observation_count=0, device_count=0,
                flagged_count=0, new_assets=0, findings_opened=0, findings_reopened=0,
            ).returning(T_SCAN.c.id)).scalar_one()

    def _upsert_policies(self, conn: Connection, policies: Iterable[Any]) -> None:
        """Known titles/citations overwrite; a bare id only creates a placeholder row."""
        for p in policies:
            # an id is a key: cutting it could merge two policies, so a long one is refused
            if isinstance(p, str):
                pid = fit(T_POLICY.c.id, p, typed=True, field="policy id")
                conn.execute(self._insert(T_POLICY).values(id=pid, title=fit(T_POLICY.c.title, p),
                                                           citation=None)
                             .on_conflict_do_nothing(index_elements=["id"]))
            else:
                stmt = self._insert(T_POLICY).values(
                    id=fit(T_POLICY.c.id, p.id, typed=True, field="policy id"),
                    title=fit(T_POLICY.c.title, p.title),
                    citation=fit(T_POLICY.c.citation, getattr(p, "citation", None)))
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["id"], set_={"title": stmt.excluded.title,
                                                 "citation": stmt.excluded.citation}))

    def _scan(self, conn: Connection, scan_id: int, *, running: bool = False) -> Any:
        row = conn.execute(select(T_SCAN).where(T_SCAN.c.id == scan_id)).one_or_none()
        if row is None:
            raise StoreError(f"no scan {scan_id} in {self.safe_url}; list scans with `camaudit diff --list`")
        if running and row.status != "running":
            raise StoreError(f"scan {scan_id} already finished ({row.status}); start a new one with begin_scan")
        return row

    def add_observations(self, scan_id: int, observations: Iterable[Observation | dict[str, Any]]) -> int:
        """Store raw observations (for rematch and audit); returns how many were stored."""
        rows = []
        for obs in observations:
            d = obs.to_dict() if isinstance(obs, Observation) else Observation.from_dict(obs).to_dict()
            rows.append({"scan_id": scan_id, "ip": d["ip"], "mac": d["mac"],
                         "source": d["source"], "port": d["port"], "status": d["status"], "raw": d})
        for chunk in _chunks(rows, BATCH * 4):
            with self._write() as conn:
                conn.execute(insert(T_OBS), list(chunk))
                conn.execute(update(T_SCAN).where(T_SCAN.c.id == scan_id).values(
                    observation_count=T_SCAN.c.observation_count + len(chunk)))
        return len(rows)

    def record_identifications(self, scan_id: int, identifications: Iterable[IdentificationLike],
                               covered: Sequence[str] = ()) -> ScanResultSummary:
        """Create/update assets, sightings and findings for what this scan identified."""
        devices = [_device(i) for i in identifications if i.mac or i.ip or i.serial]
        with self._write() as conn:
            scan = self._scan(conn, scan_id, running=True)
            merged = list(dict.fromkeys([*scan.covered, *covered]))
            conn.execute(update(T_SCAN).where(T_SCAN.c.id == scan_id).values(covered=merged))
        self.expire_risk_acceptances()
        total = ScanResultSummary()
        # sort by identity so concurrent writers lock rows in the same order (no deadlocks)
        devices.sort(key=lambda d: _identity(d, scan.site))
        for chunk in _chunks(devices):
            self._record_isolating(scan_id, scan.site, chunk, total)
        return total

    def _record_isolating(self, scan_id: int, site: str | None, devices: Sequence[_Device],
                          total: ScanResultSummary) -> None:
        """Store `devices` in one transaction; if the database refuses it, store each half
        again, down to the single device it refuses, which is added to `total.failures`.

        So one device's text the database rejects costs only that device, and finding it
        takes about 2·log2(BATCH) small transactions instead of one per device of the batch
        (storing a 500-device batch device by device took 2.6 s on SQLite).
        """
        try:
            total.add(self._record_chunk(scan_id, site, devices))
        except OperationalError:
            raise              # the database, not a device, failed: the scan fails
        except (SQLAlchemyError, UnicodeError, ValueError) as exc:
            if len(devices) == 1:
                total.failures.append(DeviceFailure(devices[0].ip, devices[0].mac, _reason(exc)))
                return
            half = len(devices) // 2
            self._record_isolating(scan_id, site, devices[:half], total)
            self._record_isolating(scan_id, site, devices[half:], total)

    def _record_chunk(self, scan_id: int, site: str | None,
                      devices: Sequence[_Device]) -> ScanResultSummary:
        """Store `devices` and count them on the scan row, in one transaction."""
        with self._write() as conn:
            part = self._record_batch(conn, scan_id, site, devices)
            conn.execute(update(T_SCAN).where(T_SCAN.c.id == scan_id).values(
                device_count=T_SCAN.c.device_count + part.devices,
                flagged_count=T_SCAN.c.flagged_count + part.flagged_assets,
                new_assets=T_SCAN.c.new_assets + part.new_assets,
                findings_opened=T_SCAN.c.findings_opened + part.findings_opened,
                findings_reopened=T_SCAN.c.findings_reopened + part.findings_reopened))
        return part

    def _record_batch(self, conn: Connection, scan_id: int, site: str | None,
                      devices: Sequence[_Device]) -> ScanResultSummary:
        now = self.clock()
        out = ScanResultSummary()
        by_identity: dict[str, _Device] = {}
        for device in devices:             # one device twice in a batch: the later answer wins
            by_identity[_identity(device, site)] = device
        found = self._find_assets(conn, by_identity)
        new_rows = [dict(_asset_values(ident), identity=key, site=site, first_seen=now,
                         last_seen=now, first_scan_id=scan_id, last_scan_id=scan_id, missed_scans=0)
                    for key, ident in by_identity.items() if key not in found]
        created: set[str] = set()
        if new_rows:
            stmt = self._insert(T_ASSET).on_conflict_do_nothing(index_elements=["identity"])
            created = {r.identity for r in conn.execute(
                stmt.returning(T_ASSET.c.identity, T_ASSET.c.id), new_rows)}
            # rows another site scanner inserted a moment ago are "known", not lost
            found.update(self._find_assets(conn, {k: by_identity[k] for k in
                                                        {r["identity"] for r in new_rows}}))
        updates = []
        for key, ident in by_identity.items():
            asset = found[key]
            if key in created:
                out.new_assets += 1
                continue
            out.known_assets += 1
            values = _asset_values(ident)
            if ident.ip and asset.ip and ident.ip != asset.ip:
                out.readdressed += 1
            merged = {name: (values[name] if values[name] is not None else getattr(asset, name))
                      for name in ("ip", "mac", "serial", "vendor", "brand", "model", "firmware",
                                   "device_type")}
            # an asset stored by unlabelled scans takes the site of the first labelled scan that
            # sees it, so `scan --site hq` counts it for its exit code; a named site is kept
            updates.append(dict(merged, b_id=asset.id, site=asset.site if asset.site is not None else site,
                                flagged=values["flagged"],
                                confidence=values["confidence"], evidence=values["evidence"],
                                last_seen=now, last_scan_id=scan_id, missed_scans=0))
        if updates:
            conn.execute(update(T_ASSET).where(T_ASSET.c.id == bindparam("b_id")), updates)
        asset_ids = {key: found[key].id for key in by_identity}
        conn.execute(self._insert(T_SIGHT).on_conflict_do_nothing(
            index_elements=["scan_id", "asset_id"]), [
            dict(_sighting_values(ident), scan_id=scan_id, asset_id=asset_ids[key], seen_at=now)
            for key, ident in by_identity.items()])
        flagged = {asset_ids[key]: ident for key, ident in by_identity.items()
                   if ident.flagged and ident.policies}
        out.devices = len(by_identity)
        out.flagged_assets = len(flagged)
        opened, reopened = self._apply_flags(conn, flagged, self._findings_of(conn, flagged),
                                             scan_id, SCAN_ACTOR, f"scan {scan_id}", now)
        out.findings_opened, out.findings_reopened = opened, reopened
        return out

    def _find_assets(self, conn: Connection, by_identity: dict[str, _Device]) -> dict[str, Any]:
        """Match identities to stored assets: by MAC, else identity key, else serial.

        The serial rule (same vendor, and not two different MACs) keeps one asset for a device
        whether the scanner sees its MAC (local segment) or only its serial (behind a router).
        A MAC side finds the MAC-less asset through its serial key, so each lookup reads at most
        a row per device of the batch: looking serials up by value read every asset sharing one
        (a serial burnt into a whole model line), per batch, and made storing a scan quadratic.
        """
        macs = {i.mac for i in by_identity.values() if i.mac}
        serial_keys = {_serial_key(i) for i in by_identity.values() if i.mac and i.serial}
        rows = []    # indexed lookups: one OR of IN lists scans the table on PostgreSQL
        for column, values in ((T_ASSET.c.identity, by_identity.keys() | serial_keys),
                               (T_ASSET.c.mac, macs)):
            if values:
                rows.extend(conn.execute(select(*_MATCH_COLUMNS).where(column.in_(list(values)))))
        by_mac = {r.mac: r for r in rows if r.mac}
        by_ident = {r.identity: r for r in rows}
        found, routed = {}, {}
        for key, ident in by_identity.items():
            row = (by_mac.get(ident.mac) if ident.mac else None) or by_ident.get(key)
            if row is None and ident.mac and ident.serial:
                # only a MAC-less asset carries the serial key (a MAC-less device's identity)
                candidate = by_ident.get(_serial_key(ident))
                if candidate is not None and candidate.mac is None:
                    row = candidate
            if row is not None:
                found[key] = row
            elif ident.serial and not ident.mac:
                routed[key] = ident
        if routed:
            found.update(self._find_by_serial(conn, routed))
        return found

    def _find_by_serial(self, conn: Connection, devices: dict[str, _Device]) -> dict[str, Any]:
        """MAC-less devices not stored under their serial key: the oldest asset of the same
        vendor and serial (a device seen earlier with its MAC), one row per vendor and serial."""
        oldest = (select(func.min(T_ASSET.c.id))
                  .where(T_ASSET.c.serial.in_(list({d.serial for d in devices.values()})))
                  .group_by(T_ASSET.c.vendor, T_ASSET.c.serial))
        by_serial: dict[tuple[str, str], Any] = {}
        for r in conn.execute(select(*_MATCH_COLUMNS).where(T_ASSET.c.id.in_(oldest))
                              .order_by(T_ASSET.c.id.desc())):
            # descending ids: of one vendor spelt in several cases, the oldest asset wins
            by_serial[((r.vendor or "").lower(), r.serial)] = r
        return {key: row for key, d in devices.items()
                if (row := by_serial.get(((d.vendor or "").lower(), d.serial))) is not None}

    def _findings_of(self, conn: Connection, asset_ids: Iterable[int]) -> dict[tuple[int, str], Any]:
        """The findings of these assets by (asset, policy), with what changing them reads."""
        ids = list(asset_ids)
        if not ids:
            return {}
        return {(r.asset_id, r.policy_id): r for r in conn.execute(
            select(*_FINDING_STATE).where(T_FIND.c.asset_id.in_(ids)))}

    def _apply_flags(self, conn: Connection, flagged: dict[int, _Device],
                     existing: dict[tuple[int, str], Any], scan_id: int | None, actor: str,
                     seen_by: str, now: datetime) -> tuple[int, int]:
        """Open, refresh or reopen findings for assets flagged now (`existing`: their findings,
        `_findings_of`); returns (opened, reopened)."""
        if not flagged:
            return 0, 0
        policy_ids = {p for ident in flagged.values() for p in ident.policies}
        self._upsert_policies(conn, sorted(policy_ids))
        new_rows, refresh, events = [], [], []
        reopened = 0
        for asset_id, ident in flagged.items():
            for policy in ident.policies:
                row = existing.get((asset_id, policy))
                if row is None:
                    new_rows.append({"asset_id": asset_id, "policy_id": policy, "status": Status.OPEN,
                                     "owner": None, "due": None, "note": None, "expires": None,
                                     "suppressed_fingerprints": [], "opened_at": now,
                                     "status_changed_at": now, "last_seen": now,
                                     "last_scan_id": scan_id, "not_seen_since": None})
                    continue
                to, note = row.status, None
                if row.status == Status.REMEDIATED:
                    to, note = Status.OPEN, f"seen again in {seen_by}"
                elif (row.status == Status.FALSE_POSITIVE
                      and not (fps := _fingerprints(ident.evidence)) <= set(row.suppressed_fingerprints)):
                    extra = ", ".join(sorted(fps - set(row.suppressed_fingerprints)))
                    to, note = Status.OPEN, (f"new evidence in {seen_by} not covered by the "
                                             f"false-positive verdict: {extra}")
                elif row.not_seen_since is not None:
                    note = (f"seen again in {seen_by} after not seen since "
                            f"{row.not_seen_since.date().isoformat()}")
                if to != row.status:
                    reopened += 1
                refresh.append({"b_id": row.id, "status": to, "last_seen": now,
                                "last_scan_id": scan_id if scan_id is not None else row.last_scan_id,
                                "not_seen_since": None,
                                "status_changed_at": now if to != row.status else row.status_changed_at})
                if note:
                    events.append(_event(row.id, now, actor, row.status, to, note, scan_id))
        opened = 0
        if new_rows:
            # a concurrent site scanner may open the same finding first: count what we inserted
            stmt = self._insert(T_FIND).on_conflict_do_nothing(index_elements=["asset_id", "policy_id"])
            for r in conn.execute(stmt.returning(T_FIND.c.id), new_rows):
                opened += 1
                events.append(_event(r.id, now, actor, None, Status.OPEN,
                                     f"first flagged in {seen_by}", scan_id))
        if refresh:
            conn.execute(update(T_FIND).where(T_FIND.c.id == bindparam("b_id")), refresh)
        if events:
            conn.execute(insert(T_EVENT), events)
        return opened, reopened

    def finish_scan(self, scan_id: int, status: str = "complete") -> None:
        """Close the scan; a complete one counts misses and marks findings "not seen since"."""
        if status not in ("complete", "interrupted", "failed"):
            raise StoreError(f"unknown scan status {status!r}; use complete, interrupted or failed")
        with self._write() as conn:
            scan = self._scan(conn, scan_id, running=True)
            now = self.clock()
            if status == "complete":
                self._count_misses(conn, scan, now)
            conn.execute(update(T_SCAN).where(T_SCAN.c.id == scan_id).values(
                status=status, finished_at=now))

    def _count_misses(self, conn: Connection, scan: Any, now: datetime) -> None:
        networks = []
        for item in scan.covered:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                continue   # a range or name the engine already expanded: it covers nothing here
        if not networks:
            return
        site_cond = T_ASSET.c.site.is_(None) if scan.site is None else T_ASSET.c.site == scan.site
        candidates = conn.execute(select(T_ASSET.c.id, T_ASSET.c.ip, T_ASSET.c.missed_scans,
                                         T_ASSET.c.last_seen).where(
            site_cond, T_ASSET.c.ip.is_not(None),
            or_(T_ASSET.c.last_scan_id.is_(None), T_ASSET.c.last_scan_id != scan.id))).all()
        missed = [a for a in candidates if _covered(a.ip, networks)]
        if not missed:
            return
        conn.execute(update(T_ASSET).where(T_ASSET.c.id == bindparam("b_id")).values(
            missed_scans=bindparam("b_missed")),
            [{"b_id": a.id, "b_missed": a.missed_scans + 1} for a in missed])
        gone = {a.id: a for a in missed if a.missed_scans + 1 >= self.not_seen_after}
        if not gone:
            return
        rows = conn.execute(select(T_FIND.c.id, T_FIND.c.asset_id, T_FIND.c.status).where(
            T_FIND.c.asset_id.in_(list(gone)), T_FIND.c.status.in_(list(WATCHED)),
            T_FIND.c.not_seen_since.is_(None))).all()
        if not rows:
            return
        conn.execute(update(T_FIND).where(T_FIND.c.id == bindparam("b_id")).values(
            not_seen_since=bindparam("b_since")),
            [{"b_id": r.id, "b_since": gone[r.asset_id].last_seen} for r in rows])
        conn.execute(insert(T_EVENT), [_event(
            r.id, now, SCAN_ACTOR, r.status, r.status,
            f"not seen since {gone[r.asset_id].last_seen.date().isoformat()}: missed by "
            f"{self.not_seen_after} complete scans covering {gone[r.asset_id].ip} "
            "(evidence, not proof, of removal)", scan.id) for r in rows])

    def open_flagged_count(self, site: str | None = None) -> int:
        """Assets with an open or in-progress finding (the scan's exit code is 1 when > 0)."""
        stmt = (select(func.count(func.distinct(T_FIND.c.asset_id)))
                .select_from(T_FIND.join(T_ASSET, T_ASSET.c.id == T_FIND.c.asset_id))
                .where(T_FIND.c.status.in_(list(ACTIVE))))
        if site is not None:
            stmt = stmt.where(T_ASSET.c.site == site)
        with self._read() as conn:
            return conn.execute(stmt).scalar_one()

    # ------------------------------------------------------------------ remediation

    def resolve(self, ref: str, site: str | None = None) -> list[int]:
        """Finding ids a user reference names: `F12`/`12` (finding), `A7` (asset), a MAC or an IP."""
        ref = ref.strip()
        with self._read() as conn:
            if ref.isdigit() or (ref[:1] in "Ff" and ref[1:].isdigit()):
                fid = int(ref.lstrip("Ff"))
                # an id beyond the column's range names nothing (and would overflow the driver)
                if fid > MAX_ROW_ID or conn.execute(
                        select(T_FIND.c.id).where(T_FIND.c.id == fid)).first() is None:
                    raise NoSuchFinding(fid)
                return [fid]
            asset_ids = self._resolve_assets(conn, ref, site)
            ids = list(conn.execute(select(T_FIND.c.id).where(T_FIND.c.asset_id.in_(asset_ids))
                                    .order_by(T_FIND.c.id)).scalars())
            if not ids:
                raise StoreError(f"asset {ref} has no findings (it was never flagged)")
            return ids

    def _resolve_assets(self, conn: Connection, ref: str, site: str | None) -> list[int]:
        if ref[:1] in "Aa" and ref[1:].isdigit():
            asset_id = int(ref[1:])     # beyond the id range: names nothing (never bound)
            cond = T_ASSET.c.id == asset_id if asset_id <= MAX_ROW_ID else false()
        else:
            cond = _address_condition(ref)
        stmt = select(T_ASSET.c.id, T_ASSET.c.site).where(cond)
        if site is not None:
            stmt = stmt.where(T_ASSET.c.site == site)
        rows = conn.execute(stmt).all()
        if not rows:
            raise StoreError(f"no asset matches {ref}; list them with `camaudit assets`")
        if len({r.site for r in rows}) > 1:
            sites = ", ".join(sorted(str(r.site) for r in rows))
            raise StoreError(f"{ref} names assets at several sites ({sites}); add --site or use the asset id")
        return [r.id for r in rows]

    def remediate(self, finding_ids: Sequence[int], change: Change) -> list[dict[str, Any]]:
        """Apply a manual status change to findings, all or none; returns the events written."""
        now = self.clock()
        change = replace(change, actor=fit(T_EVENT.c.actor, change.actor, typed=True, field="actor"),
                         owner=fit(T_FIND.c.owner, change.owner, typed=True, field="owner"),
                         note=fit(T_FIND.c.note, change.note, typed=True, field="note"))
        with self._write() as conn:
            rows = conn.execute(select(T_FIND, T_ASSET.c.evidence).join(
                T_ASSET, T_ASSET.c.id == T_FIND.c.asset_id).where(
                T_FIND.c.id.in_(list(finding_ids))).order_by(T_FIND.c.id)).all()
            missing = set(finding_ids) - {r.id for r in rows}
            if missing:
                raise NoSuchFinding(sorted(missing)[0])
            for r in rows:
                try:
                    check(r.status, change, now.date())
                except TransitionError as exc:
                    raise TransitionError(f"finding F{r.id}: {exc}") from None
            events = []
            for r in rows:
                values: dict[str, Any] = {"status": change.to, "note": change.note or r.note,
                                          "owner": change.owner or r.owner,
                                          "due": change.due or r.due, "expires": change.expires}
                if change.to != r.status:
                    values["status_changed_at"] = now
                if change.to == Status.FALSE_POSITIVE:
                    values["suppressed_fingerprints"] = sorted(_fingerprints(r.evidence))
                conn.execute(update(T_FIND).where(T_FIND.c.id == r.id).values(**values))
                note = change.note or ""
                extras = [f"owner {change.owner}" if change.owner else "",
                          f"due {change.due}" if change.due else "",
                          f"expires {change.expires}" if change.expires else ""]
                text = "; ".join(x for x in [note, *extras] if x) or None
                events.append(_event(r.id, now, change.actor, r.status, change.to, text, None))
            conn.execute(insert(T_EVENT), events)
        return [{"finding_id": e["finding_id"], "at": _iso(e["at"]), "actor": e["actor"],
                 "from": e["from_status"], "to": e["to_status"], "note": e["note"],
                 "scan_id": None} for e in events]

    def expire_risk_acceptances(self) -> int:
        """Reopen risk acceptances whose expiry day has come; returns how many."""
        now = self.clock()
        with self._write() as conn:
            rows = conn.execute(select(T_FIND.c.id, T_FIND.c.expires).where(
                T_FIND.c.status == Status.RISK_ACCEPTED, T_FIND.c.expires <= now.date())).all()
            if not rows:
                return 0
            conn.execute(update(T_FIND).where(T_FIND.c.id.in_([r.id for r in rows])).values(
                status=Status.OPEN, status_changed_at=now, expires=None))
            conn.execute(insert(T_EVENT), [_event(
                r.id, now, EXPIRY_ACTOR, Status.RISK_ACCEPTED, Status.OPEN,
                f"risk acceptance expired on {r.expires.isoformat()}", None) for r in rows])
            return len(rows)

    def rematch(self, identify: Callable[[list[Observation]], Sequence[IdentificationLike]],
                fingerprint_version: str | None = None, policies: Sequence[Any] = ()) -> RematchSummary:
        """Re-identify every asset from the observations of its last sighting; update findings.

        `identify` is scanner.identify bound to the current fingerprints and policies. A newly
        flagged asset opens findings; a finding its new identification no longer supports
        (open or in progress) becomes false_positive with an event saying why. `policies`
        (objects with id, title, citation) are the ones `identify` evaluates: they refresh the
        stored titles and citations, and only their findings can be cleared (a finding of a
        policy left out was not judged, so it stays as it is). Without `policies`, every
        finding is judged.
        """
        out = RematchSummary()
        evaluated = {p if isinstance(p, str) else p.id for p in policies} or None
        if policies:
            with self._write() as conn:
                self._upsert_policies(conn, policies)
        label = f"rematch with fingerprints {fingerprint_version}" if fingerprint_version else "rematch"
        with self._read() as conn:
            # each asset's last sighting says which scan, MAC and IP its observations carry
            sightings = conn.execute(select(T_SIGHT.c.asset_id, T_SIGHT.c.scan_id, T_SIGHT.c.mac,
                                            T_SIGHT.c.ip).join(T_ASSET, and_(
                T_ASSET.c.id == T_SIGHT.c.asset_id, T_ASSET.c.last_scan_id == T_SIGHT.c.scan_id))
                .order_by(T_SIGHT.c.asset_id)).all()
        for chunk in _chunks(sightings):
            with self._write() as conn:
                now = self.clock()
                by_asset = self._observations_of(conn, chunk)
                observed = [a for a in chunk if by_asset.get(a.asset_id)]
                out.assets += len(observed)
                idents = _reidentify(identify, observed, by_asset)
                out.changed_assets += self._rematch_assets(conn, idents)
                # one read serves both: a finding cleared here is one no policy of its asset
                # flags any more, so _apply_flags never touches it
                findings = self._findings_of(conn, idents)
                out.findings_cleared += self._clear_unsupported(conn, idents, findings, now, label,
                                                                evaluated)
                flagged = {asset_id: ident for asset_id, ident in idents.items()
                           if ident.flagged and ident.policies}
                opened, reopened = self._apply_flags(conn, flagged, findings, None, REMATCH_ACTOR,
                                                     label, now)
                out.findings_opened += opened
                out.findings_reopened += reopened
        return out

    def _observations_of(self, conn: Connection, sightings: Sequence[Any]) -> dict[int, list[Observation]]:
        """Stored observations per asset: same scan as the sighting, its MAC, or its IP when
        the observation has no MAC (identify groups them the same way)."""
        by_mac = {(s.scan_id, s.mac): s.asset_id for s in sightings if s.mac}
        by_ip = {(s.scan_id, s.ip): s.asset_id for s in sightings if s.ip}
        # Two queries, each served by its (scan_id, mac) / (scan_id, ip) index: one OR of both
        # made SQLite walk every observation of the scan per chunk (quadratic in scan size).
        scans = list({s.scan_id for s in sightings})
        columns = select(T_OBS.c.id, T_OBS.c.scan_id, T_OBS.c.mac, T_OBS.c.ip, T_OBS.c.raw)
        macs, ips = list({s.mac for s in sightings if s.mac}), list({s.ip for s in sightings if s.ip})
        rows = []
        if macs:
            rows += conn.execute(columns.where(T_OBS.c.scan_id.in_(scans), T_OBS.c.mac.in_(macs))).all()
        if ips:
            rows += conn.execute(columns.where(T_OBS.c.scan_id.in_(scans), T_OBS.c.mac.is_(None),
                                               T_OBS.c.ip.in_(ips))).all()
        rows.sort(key=lambda r: r.id)
        out: dict[int, list[Observation]] = defaultdict(list)
        for r in rows:
            asset_id = by_mac.get((r.scan_id, r.mac)) if r.mac else by_ip.get((r.scan_id, r.ip))
            if asset_id is not None:
                out[asset_id].append(Observation.from_dict(r.raw))
        return out

    def _rematch_assets(self, conn: Connection, idents: dict[int, _Device]) -> int:
        """Write the new identification of each asset whose stored one differs (a few
        statements per chunk, not per asset: rematch of 1M observations is ~200k assets);
        returns how many changed, evidence aside.

        Most assets come out as they were stored: rows equal to their new values, evidence
        included, are not rewritten.
        """
        if not idents:
            return 0
        current = {r.id: r for r in conn.execute(
            select(T_ASSET.c.id, *(T_ASSET.c[k] for k in _REMATCHED), T_ASSET.c.evidence)
            .where(T_ASSET.c.id.in_(list(idents))))}
        changed, updates = 0, []
        for asset_id, ident in idents.items():
            values = _asset_values(ident)
            row = current[asset_id]
            differs = any(getattr(row, k) != values[k] for k in _REMATCHED)
            changed += differs
            if differs or row.evidence != values["evidence"]:
                updates.append({**{k: values[k] for k in (*_REMATCHED, "evidence")}, "b_id": asset_id})
        if updates:
            conn.execute(update(T_ASSET).where(T_ASSET.c.id == bindparam("b_id")), updates)
        return changed

    def _clear_unsupported(self, conn: Connection, idents: dict[int, _Device],
                           findings: dict[tuple[int, str], Any], now: datetime, label: str,
                           evaluated: set[str] | None) -> int:
        """Active findings (of `findings`, `_findings_of` the assets) of an `evaluated` policy
        (None: any) the new identification no longer supports become false_positive."""
        stale = sorted((r for r in findings.values() if r.status in ACTIVE
                        and (evaluated is None or r.policy_id in evaluated)
                        and r.policy_id not in (
            idents[r.asset_id].policies if idents[r.asset_id].flagged else ())), key=lambda r: r.id)
        if not stale:
            return 0
        notes = {r.id: fit(T_FIND.c.note, f"no longer flagged under {r.policy_id} after {label}")
                 for r in stale}
        conn.execute(update(T_FIND).where(T_FIND.c.id == bindparam("b_id")), [
            {"b_id": r.id, "status": Status.FALSE_POSITIVE, "status_changed_at": now, "note": notes[r.id]}
            for r in stale])
        conn.execute(insert(T_EVENT), [_event(r.id, now, REMATCH_ACTOR, r.status, Status.FALSE_POSITIVE,
                                              notes[r.id], None) for r in stale])
        return len(stale)

    # ------------------------------------------------------------------ queries

    def scans(self, site: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        stmt = select(T_SCAN).order_by(T_SCAN.c.id.desc())
        if site is not None:
            stmt = stmt.where(T_SCAN.c.site == site)
        if limit:
            stmt = stmt.limit(limit)
        with self._read() as conn:
            return [_scan_dict(r) for r in conn.execute(stmt)]

    def assets(self, *, site: str | None = None, vendor: str | None = None,
               flagged: bool | None = None) -> list[dict[str, Any]]:
        stmt = select(T_ASSET).order_by(T_ASSET.c.id)
        if site is not None:
            stmt = stmt.where(T_ASSET.c.site == site)
        if vendor is not None:
            stmt = stmt.where(func.lower(T_ASSET.c.vendor) == vendor.lower())
        if flagged is not None:
            stmt = stmt.where(T_ASSET.c.flagged == flagged)
        with self._read() as conn:
            return [_asset_dict(r) for r in conn.execute(stmt)]

    def finding_rows(self, *, status: list[str] | None = None, site: str | None = None,
                     policy: str | None = None, vendor: str | None = None,
                     since: datetime | None = None) -> list[dict[str, Any]]:
        """Flat rows for exports and `camaudit findings` (columns: docs/inventory.md)."""
        with self.finding_stream(status=status, site=site, policy=policy, vendor=vendor,
                                 since=since) as rows:
            return list(rows)

    @contextmanager
    def finding_stream(self, *, status: list[str] | None = None, site: str | None = None,
                       policy: str | None = None, vendor: str | None = None,
                       since: datetime | None = None) -> Iterator[FindingStream]:
        """The rows of `finding_rows`, fetched while they are read, inside the `with` block.

        An export of a large inventory then holds a batch of rows, not all of them (10,000
        devices' findings with their evidence were ~300 MB). Its length is counted up front
        (the JSON export writes `count` before the findings) in the same snapshot as the rows,
        so a scan committing meanwhile cannot make the two disagree.
        """
        stmt = (select(T_FIND, T_ASSET.c.site, T_ASSET.c.ip, T_ASSET.c.mac, T_ASSET.c.vendor,
                       T_ASSET.c.brand, T_ASSET.c.model, T_ASSET.c.firmware, T_ASSET.c.serial,
                       T_ASSET.c.device_type, T_ASSET.c.confidence, T_ASSET.c.evidence,
                       T_POLICY.c.title.label("policy_title"),
                       T_POLICY.c.citation.label("policy_citation"))
                .join(T_ASSET, T_ASSET.c.id == T_FIND.c.asset_id)
                .join(T_POLICY, T_POLICY.c.id == T_FIND.c.policy_id)
                .order_by(T_FIND.c.id))
        if status:
            stmt = stmt.where(T_FIND.c.status.in_(status))
        if site is not None:
            stmt = stmt.where(T_ASSET.c.site == site)
        if policy is not None:
            stmt = stmt.where(T_FIND.c.policy_id == policy)
        if vendor is not None:
            stmt = stmt.where(func.lower(T_ASSET.c.vendor) == vendor.lower())
        if since is not None:
            stmt = stmt.where(or_(T_FIND.c.last_seen >= since, T_FIND.c.status_changed_at >= since))
        now = self.clock()
        with self._snapshot() as conn:
            count = conn.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
            result = conn.execution_options(yield_per=BATCH).execute(stmt)
            yield FindingStream(count, _finding_rows(result, now))

    def events(self, finding_id: int) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [_event_dict(r) for r in conn.execute(
                select(T_EVENT).where(T_EVENT.c.finding_id == finding_id).order_by(T_EVENT.c.id))]

    def history(self, ref: str, site: str | None = None) -> dict[str, Any]:
        """One asset: its record, every sighting (IP/firmware over time), findings and events."""
        with self._read() as conn:
            ids = self._resolve_assets(conn, ref, site)
            if len(ids) > 1:
                raise StoreError(f"{ref} names {len(ids)} assets; use the asset id (A…) from `camaudit assets`")
            asset = conn.execute(select(T_ASSET).where(T_ASSET.c.id == ids[0])).one()
            sightings = conn.execute(select(T_SIGHT).where(T_SIGHT.c.asset_id == asset.id)
                                     .order_by(T_SIGHT.c.scan_id)).all()
            findings = conn.execute(select(T_FIND).where(T_FIND.c.asset_id == asset.id)
                                    .order_by(T_FIND.c.id)).all()
            events = conn.execute(select(T_EVENT).where(T_EVENT.c.finding_id.in_(
                [f.id for f in findings])).order_by(T_EVENT.c.id)).all()
        per_finding: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for e in events:
            per_finding[e.finding_id].append(_event_dict(e))
        return {"asset": _asset_dict(asset),
                "sightings": [_sighting_dict(s) for s in sightings],
                "findings": [dict(finding_id=f.id, policy_id=f.policy_id, status=f.status,
                                  owner=f.owner, due=_iso(f.due), events=per_finding[f.id])
                             for f in findings]}

    def diff(self, scan_a: int | None = None, scan_b: int | None = None,
             site: str | None = None) -> dict[str, Any]:
        """Assets new in B, gone since A, and changed (IP, firmware, vendor) between two scans.

        A field counts as changed only when both scans learnt a value and the values differ.

        Without ids: the last two complete scans (of `site`, when given).
        """
        with self._read() as conn:
            if scan_a is None or scan_b is None:
                stmt = select(T_SCAN.c.id).where(T_SCAN.c.status == "complete")
                if site is not None:
                    stmt = stmt.where(T_SCAN.c.site == site)
                last = list(conn.execute(stmt.order_by(T_SCAN.c.id.desc()).limit(2)).scalars())
                if len(last) < 2:
                    raise StoreError("diff needs two complete scans; name them: camaudit diff SCAN_A SCAN_B")
                scan_b, scan_a = last
            for sid in (scan_a, scan_b):
                self._scan(conn, sid)
            a = {s.asset_id: s for s in conn.execute(select(T_SIGHT).where(T_SIGHT.c.scan_id == scan_a))}
            b = {s.asset_id: s for s in conn.execute(select(T_SIGHT).where(T_SIGHT.c.scan_id == scan_b))}
        changed = []
        for asset_id in sorted(a.keys() & b.keys()):
            # a value one scan did not learn (probe timed out) is unknown, not a change
            fields = {k: {"from": getattr(a[asset_id], k), "to": getattr(b[asset_id], k)}
                      for k in ("ip", "firmware", "vendor")
                      if None not in (getattr(a[asset_id], k), getattr(b[asset_id], k))
                      and getattr(a[asset_id], k) != getattr(b[asset_id], k)}
            if fields:
                changed.append({**_sighting_dict(b[asset_id]), "changes": fields})
        return {"scan_a": scan_a, "scan_b": scan_b,
                "new": [_sighting_dict(b[i]) for i in sorted(b.keys() - a.keys())],
                "gone": [_sighting_dict(a[i]) for i in sorted(a.keys() - b.keys())],
                "changed": changed}

    def scan_series(self, site: str | None = None) -> list[dict[str, Any]]:
        """Finding counts by status as of the end of each finished scan (burn-down chart).

        Replays the append-only event trail, so a status set between two scans shows at the
        end of the next scan. `flagged_assets`: assets with an open or in-progress finding.
        """
        with self._read() as conn:
            stmt = select(T_SCAN).where(T_SCAN.c.finished_at.is_not(None))
            if site is not None:
                stmt = stmt.where(T_SCAN.c.site == site)
            scans = conn.execute(stmt.order_by(T_SCAN.c.finished_at, T_SCAN.c.id)).all()
            ev = (select(T_EVENT.c.finding_id, T_EVENT.c.at, T_EVENT.c.to_status, T_FIND.c.asset_id)
                  .join(T_FIND, T_FIND.c.id == T_EVENT.c.finding_id)
                  .join(T_ASSET, T_ASSET.c.id == T_FIND.c.asset_id))
            if site is not None:
                ev = ev.where(T_ASSET.c.site == site)
            events = conn.execute(ev.order_by(T_EVENT.c.at, T_EVENT.c.id)).all()
        state: dict[int, tuple[str, int]] = {}
        out, i = [], 0
        for scan in scans:
            while i < len(events) and events[i].at <= scan.finished_at:
                state[events[i].finding_id] = (events[i].to_status, events[i].asset_id)
                i += 1
            counts = Counter(s for s, _ in state.values())
            row = {"scan_id": scan.id, "site": scan.site, "started_at": _iso(scan.started_at),
                   "finished_at": _iso(scan.finished_at), "status": scan.status}
            row.update({s.value: counts.get(s.value, 0) for s in Status})
            row["flagged_assets"] = len({a for s, a in state.values() if s in ACTIVE})
            out.append(row)
        return out

    def summary(self) -> dict[str, Any]:
        """Finding counts by status, by vendor and by site, plus totals."""
        with self._read() as conn:
            rows = conn.execute(select(T_FIND.c.status, T_ASSET.c.vendor, T_ASSET.c.site)
                                .join(T_ASSET, T_ASSET.c.id == T_FIND.c.asset_id)).all()
            n_assets = conn.execute(select(func.count()).select_from(T_ASSET)).scalar_one()
            n_scans = conn.execute(select(func.count()).select_from(T_SCAN)).scalar_one()
        by_vendor: dict[str, Counter[str]] = defaultdict(Counter)
        by_site: dict[str, Counter[str]] = defaultdict(Counter)
        for r in rows:
            by_vendor[r.vendor or "unknown"][r.status] += 1
            by_site[r.site or "(none)"][r.status] += 1
        return {"assets": n_assets, "scans": n_scans, "findings": len(rows),
                "by_status": {s.value: sum(1 for r in rows if r.status == s) for s in Status},
                "by_vendor": {k: dict(v) for k, v in sorted(by_vendor.items())},
                "by_site": {k: dict(v) for k, v in sorted(by_site.items())}}


# ---------------------------------------------------------------------- engine setup

def _json_column_text(value: Any) -> str:
    """A JSON column's text: orjson (the raw observation and the evidence of every row are
    most of what storing a scan and rematch encode and decode), the stdlib for what orjson
    refuses (lone surrogates, integers beyond 64 bits), escaped to ASCII as before."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


# loads_json reads what the stdlib wrote before (NaN included); orjson writes NaN as null,
# which PostgreSQL's JSON type needs anyway
_JSON_CODEC: dict[str, Any] = {"json_serializer": _json_column_text, "json_deserializer": loads_json}


def _make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: e.g. a non-numeric port
        raise StoreError(f"not a database URL: {mask_secrets(repr(url))}; use sqlite:///PATH or "
                         "postgresql+psycopg://USER@HOST/DB") from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, **_JSON_CODEC)
    raise StoreError(f"unsupported database {parsed.get_backend_name()!r}; use SQLite or PostgreSQL")


def _sqlite_engine(url: str, path: str | None) -> Engine:
    if not path or path == ":memory:":
        raise StoreError("an in-memory SQLite inventory would vanish at exit; give a file path")
    try:
        _create_private_file(Path(path))
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the inventory file {path}: {exc.strerror or exc}; "
                               "choose a writable path with --db sqlite:///PATH") from exc
    _check_sqlite_file(url, path)
    engine = create_engine(url, connect_args={"timeout": 30}, **_JSON_CODEC)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # take transactions into our own hands (pysqlite would not BEGIN before DDL)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")      # writers queue instead of failing
        _ensure_wal(cur)                              # readers never block the scan writer
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")      # WAL + NORMAL: durable at checkpoints, no corruption
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("camaudit_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _check_sqlite_file(url: str, path: str) -> None:
    """Refuse a file that is not a usable inventory before the engine touches it.

    Opening the engine switches the file to WAL (a write to its header), so the file is
    first read through a read-only connection: random bytes raise CorruptDatabase, another
    application's tables or a newer schema revision raise what `migrate.verify` raises. A file
    the read-only connection cannot open at all is left to the engine, which says why.
    """
    if os.path.getsize(path) == 0:
        return    # new, or created empty a moment ago: it becomes an inventory
    uri = f"file:{quote(path)}?mode=ro"
    probe = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    try:
        with probe.connect() as conn:
            migrate.verify(conn, url)
    except OperationalError:
        return
    except DatabaseError as exc:
        raise CorruptDatabase(url, str(exc.orig)) from None
    finally:
        probe.dispose()


def _ensure_wal(cur: Any, patience: float = 30.0) -> None:
    """Put the file in WAL mode (a property of the file: set once, then only read).

    Two scanners opening a new inventory at the same moment both try to switch it, and SQLite
    answers the loser "database is locked" at once, without consulting the busy timeout; so
    that one statement is retried until the other has finished switching.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _create_private_file(path: Path) -> None:
    """The inventory lists an organisation's weak spots: create it readable by its owner only.

    An existing file is left untouched, never opened: closing any descriptor of a SQLite file
    drops every POSIX lock this process holds on it, so another process would take our open
    WAL connections for gone, checkpoint and delete the WAL under them (a corrupt database).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except FileExistsError:
        return
    os.close(fd)


# ---------------------------------------------------------------------- row helpers

def _identity(ident: _Device, site: str | None) -> str:
    if ident.mac:
        return f"mac:{ident.mac}"
    if ident.serial:
        return _serial_key(ident)
    return f"ip:{site or ''}:{ident.ip}"


def _serial_key(ident: _Device) -> str:
    return f"serial:{(ident.vendor or '').lower()}:{ident.serial}"


@dataclass(slots=True, frozen=True)
class _Device:
    """An identification as the store keeps it: device-supplied text is untrusted, so it is
    stripped of NUL (PostgreSQL refuses it) and cut to the column sizes before any use."""

    ip: str | None
    mac: str | None
    vendor: str | None
    brand: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    device_type: str | None
    flagged: bool
    policies: tuple[str, ...]
    confidence: float
    evidence: list[dict[str, Any]]


MAX_EVIDENCE_VALUE = 1000


def _device(ident: IdentificationLike) -> _Device:
    def text(value: Any, column: Any = None) -> str | None:
        if value is None:
            return None
        cleaned = str(value).replace("\x00", "").strip()
        cleaned = fit(column, cleaned) if column is not None else cleaned[:MAX_EVIDENCE_VALUE]
        return cleaned or None

    evidence = [{k: (text(v) if isinstance(v, str) else v) for k, v in e.items()}
                for e in (ident.evidence or []) if isinstance(e, dict)]
    c = T_ASSET.c
    return _Device(ip=text(ident.ip, c.ip), mac=normalize_mac(ident.mac) if ident.mac else None,
                   vendor=text(ident.vendor, c.vendor), brand=text(ident.brand, c.brand),
                   model=text(ident.model, c.model), firmware=text(ident.firmware, c.firmware),
                   serial=text(ident.serial, c.serial),
                   device_type=text(getattr(ident, "device_type", None), c.device_type),
                   flagged=bool(ident.flagged), policies=tuple(dict.fromkeys(ident.policies or [])),
                   confidence=float(ident.confidence or 0.0), evidence=evidence)


def _reason(exc: BaseException) -> str:
    """Why the database refused a device, short and printable (it may quote device text)."""
    orig = getattr(exc, "orig", None) or exc
    text = f"{type(orig).__name__}: {orig}".splitlines()[0][:200]
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _asset_values(d: _Device) -> dict[str, Any]:
    return {"ip": d.ip, "mac": d.mac, "serial": d.serial, "vendor": d.vendor, "brand": d.brand,
            "model": d.model, "firmware": d.firmware, "device_type": d.device_type,
            "flagged": d.flagged, "confidence": d.confidence, "evidence": d.evidence}


def _sighting_values(d: _Device) -> dict[str, Any]:
    return {"ip": d.ip, "mac": d.mac, "vendor": d.vendor, "brand": d.brand, "model": d.model,
            "firmware": d.firmware, "serial": d.serial, "flagged": d.flagged,
            "confidence": d.confidence, "policies": list(d.policies)}


def _fingerprints(evidence: Iterable[dict[str, Any]] | None) -> set[str]:
    """The fingerprint ids behind an identification (OUI-only evidence names its source)."""
    return {str(e.get("fingerprint") or f"{e.get('source')}:{e.get('field')}")
            for e in evidence or [] if isinstance(e, dict)}


def _address_condition(ref: str) -> Any:
    """`WHERE` for an asset named by MAC or IP, or a StoreError saying what is accepted."""
    try:
        return T_ASSET.c.ip == str(ipaddress.ip_address(ref))
    except ValueError:
        pass
    try:
        return T_ASSET.c.mac == normalize_mac(ref)
    except ValueError:
        raise StoreError(f"{ref!r} is not a finding id (F12), asset id (A7), MAC or IP") from None


def _covered(ip: str, networks: list[Any]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in networks)


def _reidentify(identify: Callable[[list[Observation]], Sequence[IdentificationLike]],
                sightings: Sequence[Any], by_asset: dict[int, list[Observation]]) -> dict[int, _Device]:
    """The new identification of each asset (sightings: asset_id, scan_id, mac, ip).

    `identify` runs once per scan among the sightings, on all their assets' observations (one
    matcher per asset cost a third more): that scan's devices, grouped as the scan grouped
    them. Each asset takes the identification of its MAC, else of its IP; an asset that names
    none, or names one another asset names too, is identified from its own observations.
    """
    per_scan: dict[int, list[Any]] = defaultdict(list)
    for s in sightings:
        per_scan[s.scan_id].append(s)
    out: dict[int, _Device] = {}
    for group in per_scan.values():
        results = identify([o for s in group for o in by_asset[s.asset_id]])
        by_mac = {normalize_mac(i.mac): i for i in results if i.mac}
        ips = Counter(i.ip for i in results if i.ip)
        by_ip = {i.ip: i for i in results if i.ip and ips[i.ip] == 1}
        chosen = {s.asset_id: (by_mac.get(s.mac) if s.mac else None) or by_ip.get(s.ip)
                  for s in group}
        claims = Counter(id(i) for i in chosen.values() if i is not None)
        for s in group:
            ident = chosen[s.asset_id]
            if ident is None or claims[id(ident)] > 1:
                ident = _pick(identify(by_asset[s.asset_id]), s.mac, s.ip)
            if ident is not None:
                out[s.asset_id] = _device(ident)
    return out


def _pick(idents: Sequence[IdentificationLike], mac: str | None, ip: str | None) -> IdentificationLike | None:
    """The identification of this asset among what identify() returned for its observations."""
    for ident in idents:
        if mac and ident.mac and normalize_mac(ident.mac) == mac:
            return ident
    for ident in idents:
        if ip and ident.ip == ip:
            return ident
    return idents[0] if len(idents) == 1 else None


def _event(finding_id: int, at: datetime, actor: str, from_status: str | None, to_status: str,
           note: str | None, scan_id: int | None) -> dict[str, Any]:
    """An event row; its texts composed by the program (fingerprint lists, labels) are cut to
    their columns like device text (a typed actor or note was refused before, if too long)."""
    return {"finding_id": finding_id, "at": at, "actor": fit(T_EVENT.c.actor, actor),
            "from_status": None if from_status is None else str(from_status),
            "to_status": str(to_status), "note": fit(T_EVENT.c.note, note), "scan_id": scan_id}


def _event_dict(r: Any) -> dict[str, Any]:
    return {"event_id": r.id, "finding_id": r.finding_id, "at": _iso(r.at), "actor": r.actor,
            "from": r.from_status, "to": r.to_status, "note": r.note, "scan_id": r.scan_id}


def _scan_dict(r: Any) -> dict[str, Any]:
    return {"scan_id": r.id, "site": r.site, "targets": r.targets, "covered": r.covered,
            "policies": r.policies, "started_at": _iso(r.started_at),
            "finished_at": _iso(r.finished_at), "status": r.status,
            "tool_version": r.tool_version, "fingerprint_version": r.fingerprint_version,
            "observations": r.observation_count, "devices": r.device_count,
            "flagged": r.flagged_count, "new_assets": r.new_assets,
            "findings_opened": r.findings_opened, "findings_reopened": r.findings_reopened}


def _asset_dict(r: Any) -> dict[str, Any]:
    return {"asset_id": r.id, "identity": r.identity, "site": r.site, "ip": r.ip, "mac": r.mac,
            "serial": r.serial, "vendor": r.vendor, "brand": r.brand, "model": r.model,
            "firmware": r.firmware, "device_type": r.device_type, "flagged": r.flagged,
            "confidence": r.confidence, "first_seen": _iso(r.first_seen),
            "last_seen": _iso(r.last_seen), "last_scan_id": r.last_scan_id,
            "missed_scans": r.missed_scans}


def _sighting_dict(r: Any) -> dict[str, Any]:
    return {"asset_id": r.asset_id, "scan_id": r.scan_id, "seen_at": _iso(r.seen_at), "ip": r.ip,
            "mac": r.mac, "vendor": r.vendor, "brand": r.brand, "model": r.model,
            "firmware": r.firmware, "serial": r.serial, "flagged": r.flagged,
            "policies": r.policies, "confidence": r.confidence}


def _evidence_summary(evidence: list[dict[str, Any]], limit: int = 3) -> str:
    """Short text of the strongest evidence, e.g. `sadp DeviceType=DS-2CD2032; http:80 Server=App-webs/`."""
    strongest = sorted((e for e in evidence if isinstance(e, dict)),
                       key=lambda e: -float(e.get("weight") or 0))[:limit]
    parts = []
    for e in strongest:
        where = f"{e.get('source')}:{e['port']}" if e.get("port") else str(e.get("source"))
        value = str(e.get("value") or "")[:60]
        parts.append(f"{where} {e.get('field') or ''}={value}".replace(" =", " "))
    return "; ".join(parts)


def _finding_rows(result: Iterable[Any], now: datetime) -> Iterator[dict[str, Any]]:
    """Finding rows; consecutive findings of one asset (opened together, so mostly adjacent
    in id order) share its evidence list and summary instead of a copy each: a report that
    keeps every row (HTML) holds each asset's evidence about once, not per policy."""
    last_asset, evidence, summary = None, [], ""
    for r in result:
        if r.asset_id != last_asset:
            last_asset, evidence = r.asset_id, list(r.evidence or [])
            summary = _evidence_summary(evidence)
        yield _finding_row(r, now, evidence, summary)


def _finding_row(r: Any, now: datetime, evidence: list[dict[str, Any]], summary: str) -> dict[str, Any]:
    end = now if r.status in ACTIVE else r.status_changed_at
    return {"finding_id": r.id, "asset_id": r.asset_id, "site": r.site, "ip": r.ip, "mac": r.mac,
            "vendor": r.vendor, "brand": r.brand, "model": r.model, "firmware": r.firmware,
            "serial": r.serial, "device_type": r.device_type, "policy_id": r.policy_id,
            "policy_title": r.policy_title, "policy_citation": r.policy_citation,
            "confidence": r.confidence, "evidence_summary": summary,
            "evidence": evidence, "status": r.status, "owner": r.owner, "due": _iso(r.due),
            "note": r.note, "first_seen": _iso(r.opened_at), "last_seen": _iso(r.last_seen),
            "days_open": max(0, (end - r.opened_at).days), "last_scan_id": r.last_scan_id,
            "not_seen_since": _iso(r.not_seen_since)}

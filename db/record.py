"""Writing one scan: its row, raw observations, the assets and sightings of what it
identified, their findings, and at its end the misses that mark devices "not seen since".

Writes go in batches (`BATCH` rows per transaction, executemany inserts), so a 10,000-device
scan is stored quickly and a scan killed midway leaves earlier batches and scans intact; a
batch the database refuses is split until the one refused device is found (`DeviceFailure`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from camaudit.db.bulk import among, insert_rows, update_rows
from camaudit.db.device import ASSET_FIELDS, Device, IdentificationLike, asset_values, clean, sighting_values
from camaudit.db.engine import Database
from camaudit.db.errors import NoSuchScan, ScanFinished, StoreError
from camaudit.db.findings import apply_flags, expire_risk_acceptances, findings_of, mark_not_seen, upsert_policies
from camaudit.db.identity import identity_key, lookup_keys, match, needs_serial_lookup, serial_match
from camaudit.db.lifecycle import gone
from camaudit.db.models import Asset, Scan, Sighting, StoredObservation, fit
from camaudit.observation import Observation

BATCH = 500
SCAN_ACTOR = "camaudit scan"
SCAN_STATUSES = ("complete", "interrupted", "failed")

T_SCAN, T_ASSET, T_SIGHT, T_OBS = (Scan.__table__, Asset.__table__, Sighting.__table__,
                                   StoredObservation.__table__)
# what matching a device to its asset reads: not the evidence JSON, which a scan only overwrites
_MATCH_COLUMNS = [c for c in T_ASSET.c if c.name != "evidence"]
# what a scan seeing a known asset again always overwrites (its verdict on the device);
# any other field keeps its stored value when the scan did not learn one
_VERDICT = ("flagged", "confidence", "evidence", "tier")
_KEPT_IF_UNKNOWN = tuple(name for name in ASSET_FIELDS if name not in _VERDICT)


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


def chunks(seq: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def begin_scan(db: Database, targets: list[str], site: str | None, policies: Sequence[Any],
               tool_version: str | None, fingerprint_version: str | None) -> int:
    """Record a running scan; returns its id."""
    policies = list(policies)
    policy_ids = [p if isinstance(p, str) else p.id for p in policies]
    with db.write() as conn:
        upsert_policies(db, conn, policies)
        return conn.execute(insert(T_SCAN).values(
            site=fit(T_SCAN.c.site, site, typed=True), targets=list(targets), covered=[],
            policies=policy_ids, started_at=db.clock(), status="running",
            tool_version=fit(T_SCAN.c.tool_version, tool_version),
            fingerprint_version=fit(T_SCAN.c.fingerprint_version, fingerprint_version),
            observation_count=0, device_count=0,
            flagged_count=0, new_assets=0, findings_opened=0, findings_reopened=0,
        ).returning(T_SCAN.c.id)).scalar_one()


@dataclass(slots=True, frozen=True)
class ScanSource:
    """Where an ingested scan's observations came from: the file, its SHA-256, the tool that
    wrote it (when the file says) and the span of its observations' times (when they carry one)."""

    file: str
    sha256: str
    tool: str | None = None
    observed_from: datetime | None = None
    observed_to: datetime | None = None


def set_source(db: Database, scan_id: int, source: ScanSource) -> None:
    """Record the provenance of a running scan ingested from a file."""
    with db.write() as conn:
        scan_row(db, conn, scan_id, running=True)
        conn.execute(update(T_SCAN).where(T_SCAN.c.id == scan_id).values(
            source_file=fit(T_SCAN.c.source_file, source.file), source_sha256=source.sha256,
            source_tool=fit(T_SCAN.c.source_tool, source.tool),
            observed_from=source.observed_from, observed_to=source.observed_to))


def ingested_scan(db: Database, sha256: str) -> int | None:
    """The complete scan already ingested from a file with this SHA-256, if any."""
    with db.read() as conn:
        return conn.execute(select(func.min(T_SCAN.c.id)).where(
            T_SCAN.c.source_sha256 == sha256, T_SCAN.c.status == "complete")).scalar()


def scan_row(db: Database, conn: Connection, scan_id: int, *, running: bool = False) -> Any:
    """The row of a stored scan (NoSuchScan), still running when `running` (ScanFinished)."""
    row = conn.execute(select(T_SCAN).where(T_SCAN.c.id == scan_id)).one_or_none()
    if row is None:
        raise NoSuchScan(scan_id, db.safe_url)
    if running and row.status != "running":
        raise ScanFinished(scan_id, row.status)
    return row


def add_observations(db: Database, scan_id: int,
                     observations: Iterable[Observation | dict[str, Any]]) -> int:
    """Store raw observations (for rematch and audit); returns how many were stored."""
    rows = []
    for obs in observations:
        d = obs.to_dict() if isinstance(obs, Observation) else Observation.from_dict(obs).to_dict()
        rows.append({"scan_id": scan_id, "ip": d["ip"], "mac": d["mac"],
                     "source": d["source"], "port": d["port"], "status": d["status"], "raw": d})
    for chunk in chunks(rows, BATCH * 4):
        with db.write() as conn:
            insert_rows(db, conn, T_OBS, chunk)
            conn.execute(update(T_SCAN).where(T_SCAN.c.id == scan_id).values(
                observation_count=T_SCAN.c.observation_count + len(chunk)))
    return len(rows)


def record_identifications(db: Database, scan_id: int, identifications: Iterable[IdentificationLike],
                           covered: Sequence[str] = ()) -> ScanResultSummary:
    """Create/update assets, sightings and findings for what this scan identified."""
    devices = [clean(i) for i in identifications if i.mac or i.ip or i.serial or getattr(i, "ipv6", None)]
    with db.write() as conn:
        scan = scan_row(db, conn, scan_id, running=True)
        merged = list(dict.fromkeys([*scan.covered, *covered]))
        conn.execute(update(T_SCAN).where(T_SCAN.c.id == scan_id).values(covered=merged))
    expire_risk_acceptances(db)
    total = ScanResultSummary()
    # sort by identity so concurrent writers lock rows in the same order (no deadlocks)
    devices.sort(key=lambda d: identity_key(d, scan.site))
    for chunk in chunks(devices):
        _record_isolating(db, scan_id, scan.site, chunk, total)
    return total


def _record_isolating(db: Database, scan_id: int, site: str | None, devices: Sequence[Device],
                      total: ScanResultSummary) -> None:
    """Store `devices` in one transaction; if the database refuses it, store each half
    again, down to the single device it refuses, which is added to `total.failures`.

    So one device's text the database rejects costs only that device, and finding it
    takes about 2·log2(BATCH) small transactions instead of one per device of the batch
    (storing a 500-device batch device by device took 2.6 s on SQLite).
    """
    try:
        total.add(_record_chunk(db, scan_id, site, devices))
    except OperationalError:
        raise              # the database, not a device, failed: the scan fails
    except (SQLAlchemyError, UnicodeError, ValueError) as exc:
        if len(devices) == 1:
            total.failures.append(DeviceFailure(devices[0].address, devices[0].mac, _reason(exc)))
            return
        half = len(devices) // 2
        _record_isolating(db, scan_id, site, devices[:half], total)
        _record_isolating(db, scan_id, site, devices[half:], total)


def _reason(exc: BaseException) -> str:
    """Why the database refused a device, short and printable (it may quote device text)."""
    orig = getattr(exc, "orig", None) or exc
    text = f"{type(orig).__name__}: {orig}".splitlines()[0][:200]
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _record_chunk(db: Database, scan_id: int, site: str | None,
                  devices: Sequence[Device]) -> ScanResultSummary:
    """Store `devices` and count them on the scan row, in one transaction."""
    with db.write() as conn:
        part = _record_batch(db, conn, scan_id, site, devices)
        conn.execute(update(T_SCAN).where(T_SCAN.c.id == scan_id).values(
            device_count=T_SCAN.c.device_count + part.devices,
            flagged_count=T_SCAN.c.flagged_count + part.flagged_assets,
            new_assets=T_SCAN.c.new_assets + part.new_assets,
            findings_opened=T_SCAN.c.findings_opened + part.findings_opened,
            findings_reopened=T_SCAN.c.findings_reopened + part.findings_reopened))
    return part


def _record_batch(db: Database, conn: Connection, scan_id: int, site: str | None,
                  devices: Sequence[Device]) -> ScanResultSummary:
    now = db.clock()
    out = ScanResultSummary()
    by_identity: dict[str, Device] = {}
    for device in devices:             # one device twice in a batch: the later answer wins,
        key = identity_key(device, site)   # with the addresses of both
        by_identity[key] = device.joined(by_identity[key]) if key in by_identity else device
    found = find_assets(conn, by_identity)
    new_rows = [dict(asset_values(ident), identity=key, site=site, first_seen=now,
                     last_seen=now, first_scan_id=scan_id, last_scan_id=scan_id, missed_scans=0)
                for key, ident in by_identity.items() if key not in found]
    created: set[str] = set()
    if new_rows:
        created = {r.identity for r in insert_rows(db, conn, T_ASSET, new_rows, conflict=["identity"],
                                                   returning=[T_ASSET.c.identity, T_ASSET.c.id])}
        # rows another site scanner inserted a moment ago are "known", not lost
        found.update(find_assets(conn, {k: by_identity[k] for k in
                                        {r["identity"] for r in new_rows}}))
    updates = []
    for key, ident in by_identity.items():
        asset = found[key]
        if key in created:
            out.new_assets += 1
            continue
        out.known_assets += 1
        values = asset_values(ident)
        if ident.ip and asset.ip and ident.ip != asset.ip:
            out.readdressed += 1
        merged = {name: (values[name] if values[name] is not None else getattr(asset, name))
                  for name in _KEPT_IF_UNKNOWN}
        # an asset stored by unlabelled scans takes the site of the first labelled scan that
        # sees it, so `scan --site hq` counts it for its exit code; a named site is kept
        updates.append(dict(merged, b_id=asset.id, site=asset.site if asset.site is not None else site,
                            **{name: values[name] for name in _VERDICT},
                            last_seen=now, last_scan_id=scan_id, missed_scans=0))
    update_rows(conn, T_ASSET, updates)
    asset_ids = {key: found[key].id for key in by_identity}
    insert_rows(db, conn, T_SIGHT, [
        dict(sighting_values(ident), scan_id=scan_id, asset_id=asset_ids[key], seen_at=now)
        for key, ident in by_identity.items()], conflict=["scan_id", "asset_id"])
    flagged = {asset_ids[key]: ident for key, ident in by_identity.items()
               if ident.flagged and ident.policies}
    out.devices = len(by_identity)
    out.flagged_assets = len(flagged)
    opened, reopened = apply_flags(db, conn, flagged, findings_of(conn, flagged),
                                   scan_id, SCAN_ACTOR, f"scan {scan_id}", now)
    out.findings_opened, out.findings_reopened = opened, reopened
    return out


def find_assets(conn: Connection, by_identity: dict[str, Device]) -> dict[str, Any]:
    """Stored assets of these devices (by identity key), by the rules of `camaudit.db.identity.match`.

    A MAC side finds the MAC-less asset through its serial key, so each lookup reads at most
    a row per device of the batch: looking serials up by value read every asset sharing one
    (a serial burnt into a whole model line), per batch, and made storing a scan quadratic.
    """
    keys, macs = lookup_keys(by_identity.items())
    rows = []    # indexed lookups: one OR of IN lists scans the table on PostgreSQL
    for column, values in ((T_ASSET.c.identity, keys), (T_ASSET.c.mac, macs)):
        if values:
            rows.extend(conn.execute(select(*_MATCH_COLUMNS).where(among(conn, column, values))))
    by_mac = {r.mac: r for r in rows if r.mac}
    by_ident = {r.identity: r for r in rows}
    found, routed = {}, {}
    for key, device in by_identity.items():
        row = match(key, device, by_mac, by_ident)
        if row is not None:
            found[key] = row
        elif needs_serial_lookup(device):
            routed[key] = device
    if routed:
        found.update(_find_by_serial(conn, routed))
    return found


def _find_by_serial(conn: Connection, devices: dict[str, Device]) -> dict[str, Any]:
    """MAC-less devices not stored under their serial key: the oldest asset of the same
    vendor and serial (a device seen earlier with its MAC), one row per vendor and serial."""
    oldest = (select(func.min(T_ASSET.c.id))
              .where(among(conn, T_ASSET.c.serial, {d.serial for d in devices.values()}))
              .group_by(T_ASSET.c.vendor, T_ASSET.c.serial))
    by_serial: dict[tuple[str, str | None], Any] = {}
    for r in conn.execute(select(*_MATCH_COLUMNS).where(T_ASSET.c.id.in_(oldest))
                          .order_by(T_ASSET.c.id.desc())):
        # descending ids: of one vendor spelt in several cases, the oldest asset wins
        by_serial[serial_match(r.vendor, r.serial)] = r
    return {key: row for key, d in devices.items()
            if (row := by_serial.get(serial_match(d.vendor, d.serial))) is not None}


def finish_scan(db: Database, scan_id: int, status: str, not_seen_after: int) -> None:
    """Close the scan; a complete one counts misses and marks findings "not seen since"."""
    if status not in SCAN_STATUSES:
        raise StoreError(f"unknown scan status {status!r}; one of {', '.join(SCAN_STATUSES)}")
    with db.write() as conn:
        scan = scan_row(db, conn, scan_id, running=True)
        now = db.clock()
        if status == "complete":
            _count_misses(conn, scan, now, not_seen_after)
        conn.execute(update(T_SCAN).where(T_SCAN.c.id == scan_id).values(
            status=status, finished_at=now))


def _count_misses(conn: Connection, scan: Any, now: datetime, not_seen_after: int) -> None:
    networks = []
    for item in scan.covered:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            continue   # a range or name the engine already expanded: it covers nothing here
    if not networks:
        return
    site_cond = T_ASSET.c.site.is_(None) if scan.site is None else T_ASSET.c.site == scan.site
    candidates = conn.execute(select(T_ASSET.c.id, T_ASSET.c.ip, T_ASSET.c.ipv6, T_ASSET.c.missed_scans,
                                     T_ASSET.c.last_seen).where(
        site_cond, or_(T_ASSET.c.ip.is_not(None), T_ASSET.c.ipv6.is_not(None)),
        or_(T_ASSET.c.last_scan_id.is_(None), T_ASSET.c.last_scan_id != scan.id))).all()
    missed = [a for a in candidates if any(covered(ip, networks) for ip in [a.ip, *(a.ipv6 or ())] if ip)]
    if not missed:
        return
    update_rows(conn, T_ASSET, [{"b_id": a.id, "missed_scans": a.missed_scans + 1} for a in missed])
    lost = {a.id: (a, a.missed_scans + 1) for a in missed
            if gone(a.missed_scans + 1, not_seen_after)}
    if lost:
        mark_not_seen(conn, lost, not_seen_after, scan.id, SCAN_ACTOR, now)


def covered(ip: str, networks: list[Any]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in networks)
